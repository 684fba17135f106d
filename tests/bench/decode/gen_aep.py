#!/usr/bin/env python3
"""Writes N realistic AEP audience-activation payloads as JSON lines (about 650 bytes each).

Shape as in reference/aep-rudderstack-payloads.md 1.2: a mapped attribute (person.name),
segmentMembership.ups with 3-6 audiences of mixed statuses
drawn from a pool of 40 audience ids ("Z" and "+0000" timestamps, some with segment
names and timestamps), identityMap with ecid, email and crmid. Deterministic for a seed.

usage: gen_aep.py N [SEED] > payloads.jsonl
"""
import json
import random
import sys
import uuid


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    audiences = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(40)]
    names = ["Sports fans", "Homepage visitors", "Cart abandoners", "Loyalty gold",
             "Newsletter", "High value", "Lapsed 90d", "Mobile app users"]
    first = ["John", "Jane", "Ana", "Wouter", "Marc", "Li", "Fatima", "Olga", "Sven"]
    last = ["Doe", "Smith", "Van Geluwe", "Meewis", "Garcia", "Kowalski", "Chen"]
    out = sys.stdout
    for i in range(n):
        fn, ln = rng.choice(first), rng.choice(last)
        email = f"{fn[0].lower()}{ln.lower().replace(' ', '')}{i}@ex.com"
        ups = {}
        k = rng.choices([3, 4, 5, 6], [4, 3, 2, 1])[0]
        for aud in rng.sample(audiences, k):
            st = rng.choices(["realized", "existing", "exited"], [3, 5, 2])[0]
            t = (f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                 f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
            seg = {"lastQualificationTime": t + (rng.choice(["Z", "Z", "+0000"])),
                   "status": st}
            if rng.random() < 0.05:
                seg["name"] = rng.choice(names)
                seg["createdAt"] = 1648553325000 + rng.randint(0, 10**9)
                seg["updatedAt"] = seg["createdAt"] + 5000
            ups[aud] = seg
        body = {
            "person": {"name": {"firstName": fn, "lastName": ln}},
            "segmentMembership": {"ups": ups},
            "identityMap": {
                "ecid": [{"id": str(rng.randint(10**37, 10**38 - 1))}],
                "email": [{"id": email}],
                "crmid": [{"id": f"CRM-{rng.randint(0, 10**9):09d}"}],
            },
        }
        out.write(json.dumps(body, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
