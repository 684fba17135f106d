#!/usr/bin/env python3
"""Kafka's default partitioner (the Java client's murmur2): print the partition of a key.

usage: murmur2.py PARTITIONS KEY...    prints "KEY PARTITION" per key
"""
import sys


def murmur2(data: bytes) -> int:
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[n4 * 4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 * 4 + 1] << 8
    if rest >= 1:
        h ^= data[n4 * 4]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition(key: str, n: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % n


if __name__ == "__main__":
    n = int(sys.argv[1])
    for key in sys.argv[2:]:
        print(key, partition(key, n))
