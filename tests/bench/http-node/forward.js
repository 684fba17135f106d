#!/usr/bin/env node
// Benchmark peer for hubfn's HTTP output binding: the kafkajs + undici forwarder a user would
// write instead of a hubfn function with an "http" output. For each AEP profile event it
// decodes the body and, for every audience of segmentMembership.ups with status "realized",
// sends PUT /profiles/{ecid}/audiences/{audienceId} with a small JSON body, and for every one
// with status "exited" a DELETE to the same path.
//
//   node forward.js BOOTSTRAP TOPIC GROUP BASE_URL [--concurrency N] [--partitions-at-once N]
//
// At most N (16) requests are in flight, over a keep-alive undici Pool of N connections; a
// semaphore holds back the rest, so a large batch does not queue thousands of requests in the
// pool. kafkajs runs eachBatch for --partitions-at-once partitions at a time
// (partitionsConsumedConcurrently, kafkajs's default 1; the semaphore is shared, so the bound
// on requests holds for all of them). With the defaults a batch is what one fetch brought for
// one partition (up to 1 MB, well over a thousand events here), so the in-flight limit stays
// reached except while a batch's last requests finish. A batch's offset is resolved only
// after every request it made got a 2xx; any other answer or a transport error throws out of
// eachBatch, so kafkajs consumes the batch again from the last resolved offset. Commits are
// kafkajs's defaults (autoCommit).
//
// Every request carries Authorization (BENCH_AUTH, like hubfn's binding header) and an
// Idempotency-Key made from partition, offset and audience id, stable across redeliveries.
//
// The end: the high watermarks of TOPIC are read at start; once every partition's resolved
// position reached its high watermark the peer writes
//   requests R events N
// on stdout, disconnects and exits 0. It writes "start" at its first message. A crash or
// connection error: one line on stderr, exit 1. kafkajs and undici are found through NODE_PATH
// (see install.sh), not a node_modules in the repository.
'use strict'

function load(name) {
  try {
    return require(name)
  } catch (e) {
    process.stderr.write(`forward.js: ${name} not found; run with ` +
      'NODE_PATH=$(tests/bench/http-node/install.sh | tail -n 1)\n')
    process.exit(1)
  }
}

const { Kafka, logLevel } = load('kafkajs')
const { Pool } = load('undici')

function usage() {
  process.stderr.write('usage: node forward.js BOOTSTRAP TOPIC GROUP BASE_URL ' +
    '[--concurrency N] [--partitions-at-once N]\n')
  process.exit(2)
}

function parseArgs(argv) {
  const pos = []
  const opts = { concurrency: 16, partitionsAtOnce: 1 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--concurrency' || a === '--partitions-at-once') {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v <= 0) usage()
      if (a === '--concurrency') opts.concurrency = v
      else opts.partitionsAtOnce = v
    } else if (a.startsWith('--')) {
      usage()
    } else {
      pos.push(a)
    }
  }
  if (pos.length !== 4) usage()
  return { brokers: pos[0].split(','), topic: pos[1], group: pos[2], url: pos[3], ...opts }
}

function fail(what, err) {
  const msg = err && err.message ? err.message : String(err)
  process.stderr.write(`forward.js: ${what}: ${msg.split('\n')[0]}\n`)
  process.exit(1)
}

// A counting semaphore: acquire() resolves when fewer than `limit` holders are in.
function semaphore(limit) {
  let held = 0
  const waiting = []
  return {
    acquire() {
      if (held < limit) {
        held++
        return Promise.resolve()
      }
      return new Promise((resolve) => waiting.push(resolve))
    },
    // Hands the slot straight to the next waiter, if any.
    release() {
      const next = waiting.shift()
      if (next) next()
      else held--
    },
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const auth = process.env.BENCH_AUTH || 'Bearer bench'
  const pool = new Pool(opts.url, { connections: opts.concurrency, pipelining: 1 })
  const slots = semaphore(opts.concurrency)
  const st = { requests: 0, events: 0, started: false }

  // One request; resolves when its answer is a 2xx and the answer's body was read.
  const send = async (method, path, body, key) => {
    await slots.acquire()
    try {
      const headers = { authorization: auth, 'idempotency-key': key }
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await pool.request({ method, path, headers, body })
      await res.body.dump()
      if (res.statusCode < 200 || res.statusCode > 299) {
        throw new Error(`${method} ${path}: HTTP ${res.statusCode}`)
      }
      st.requests++
    } finally {
      slots.release()
    }
  }

  const kafka = new Kafka({
    clientId: 'hubfn-bench-http-node',
    brokers: opts.brokers,
    logLevel: logLevel.ERROR,
  })
  const admin = kafka.admin()
  await admin.connect()
  // Where each partition ends: its high watermark now (the hub is loaded before we start).
  const high = new Map()
  for (const p of await admin.fetchTopicOffsets(opts.topic)) high.set(p.partition, Number(p.high))
  await admin.disconnect()
  const position = new Map()
  let open = 0
  for (const [p, h] of high) {
    if (h > 0) open++
    position.set(p, 0)
  }

  const consumer = kafka.consumer({ groupId: opts.group })
  let finished = false
  const finish = () => {
    process.stdout.write(`requests ${st.requests} events ${st.events}\n`)
    setTimeout(() => process.exit(0), 5000).unref()
    const end = () => pool.close().finally(() => process.exit(0))
    consumer.disconnect().then(end, end)
  }
  if (open === 0) {
    finish()
    return
  }

  consumer.on(consumer.events.CRASH, (e) => fail('crash', e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topic: opts.topic, fromBeginning: true })
  await consumer.run({
    partitionsConsumedConcurrently: opts.partitionsAtOnce,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const messages = batch.messages
      if (messages.length === 0) return
      if (!st.started) {
        st.started = true
        process.stdout.write('start\n')
      }
      const pending = []
      for (const m of messages) {
        const body = JSON.parse(m.value.toString())
        const ids = body.identityMap && body.identityMap.ecid
        const ecid = ids && ids[0] && ids[0].id
        const ups = body.segmentMembership && body.segmentMembership.ups
        if (!ecid || !ups) continue
        for (const id in ups) {
          const s = ups[id]
          const path = `/profiles/${ecid}/audiences/${id}`
          const key = `${batch.partition}-${m.offset}-${id}`
          if (s.status === 'realized') {
            pending.push(send('PUT', path, JSON.stringify({
              ecid,
              audience: id,
              status: s.status,
              lastQualificationTime: s.lastQualificationTime,
            }), key))
          } else if (s.status === 'exited') {
            pending.push(send('DELETE', path, undefined, key))
          }
        }
      }
      await Promise.all(pending)
      const last = messages[messages.length - 1].offset
      resolveOffset(last)
      st.events += messages.length
      await heartbeat()
      const p = batch.partition
      const h = high.get(p)
      const before = position.get(p)
      position.set(p, Number(last) + 1)
      if (before < h && Number(last) + 1 >= h && --open === 0 && !finished) {
        finished = true
        setImmediate(finish)
      }
    },
  })
}

process.on('unhandledRejection', (e) => fail('unhandled rejection', e))
process.on('uncaughtException', (e) => fail('uncaught exception', e))
main().catch((e) => fail('error', e))
