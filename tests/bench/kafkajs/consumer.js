#!/usr/bin/env node
// Benchmark peer for hubfn: the kafkajs consumer a user would write instead of a hubfn
// function. Counts the AEP audience memberships with status "realized" in every message.
//
//   node consumer.js BOOTSTRAP TOPIC GROUP EXPECTED [--each-message] [--latency]
//
// Default mode is eachBatch (resolveOffset per message, heartbeat per batch), --each-message
// uses eachMessage. Everything else is kafkajs's default (autoCommit, fetch sizes, retries).
// Writes "start" on stdout at the first message; after EXPECTED messages writes
//   realized R events N
//   latency_ms p50 X p99 Y max Z          (with --latency: now - message CreateTime,
//                                          taken when the handler starts on a message;
//                                          messages with the key "warm-up" are not timed)
// then disconnects and exits 0. A crash or connection error: one line on stderr, exit 1.
// kafkajs is found through NODE_PATH (see install.sh), not a node_modules in the repository.
'use strict'

function loadKafkajs() {
  try {
    return require('kafkajs')
  } catch (e) {
    process.stderr.write('consumer.js: kafkajs not found; run with ' +
      'NODE_PATH=$(tests/bench/kafkajs/install.sh | tail -n 1)\n')
    process.exit(1)
  }
}

const { Kafka, logLevel } = loadKafkajs()

function usage() {
  process.stderr.write('usage: node consumer.js BOOTSTRAP TOPIC GROUP EXPECTED ' +
    '[--each-message] [--latency]\n')
  process.exit(2)
}

function parseArgs(argv) {
  const pos = argv.filter((a) => !a.startsWith('--'))
  const flags = argv.filter((a) => a.startsWith('--'))
  const known = ['--each-message', '--latency']
  const expected = Number(pos[3])
  if (pos.length !== 4 || !Number.isInteger(expected) || expected <= 0) usage()
  if (flags.some((f) => !known.includes(f))) usage()
  return {
    brokers: pos[0].split(','),
    topic: pos[1],
    group: pos[2],
    expected,
    eachMessage: flags.includes('--each-message'),
    latency: flags.includes('--latency'),
  }
}

function fail(what, err) {
  const msg = err && err.message ? err.message : String(err)
  process.stderr.write(`consumer.js: ${what}: ${msg.split('\n')[0]}\n`)
  process.exit(1)
}

// Realized memberships in one message value; -1 when it is not the JSON we expect.
function countRealized(value) {
  let body
  try {
    body = JSON.parse(value.toString())
  } catch (e) {
    return -1
  }
  const ups = body && body.segmentMembership && body.segmentMembership.ups
  if (!ups || typeof ups !== 'object') return 0
  let r = 0
  for (const id in ups) {
    const aud = ups[id]
    if (aud && aud.status === 'realized') r++
  }
  return r
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]
}

function report(st, opts) {
  process.stdout.write(`realized ${st.realized} events ${st.events}\n`)
  if (st.parseErrors > 0) {
    process.stderr.write(`consumer.js: ${st.parseErrors} messages were not JSON\n`)
  }
  if (!opts.latency) return
  const lat = st.latency.subarray(0, st.timed).sort()
  const f = (p) => percentile(lat, p).toFixed(0)
  process.stdout.write(`latency_ms p50 ${f(50)} p99 ${f(99)} max ${f(100)}\n`)
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const st = {
    realized: 0,
    events: 0,
    parseErrors: 0,
    done: false,
    latency: opts.latency ? new Float64Array(opts.expected) : null,
    timed: 0,
  }
  const kafka = new Kafka({
    clientId: 'hubfn-bench-kafkajs',
    brokers: opts.brokers,
    logLevel: logLevel.ERROR,
  })
  const consumer = kafka.consumer({ groupId: opts.group })

  // Called outside the handler: disconnect waits for the running handler to return.
  const finish = () => {
    report(st, opts)
    setTimeout(() => process.exit(0), 5000).unref()
    consumer.disconnect().then(() => process.exit(0), () => process.exit(0))
  }

  // Handles one message; false once EXPECTED messages are done (stop consuming).
  const handle = (message) => {
    if (st.done) return false
    // the events a benchmark warmed the hub up with (key "warm-up") are not timed
    if (st.latency && !(message.key && message.key.toString() === 'warm-up')) {
      st.latency[st.timed++] = Date.now() - Number(message.timestamp)
    }
    if (st.events === 0) process.stdout.write('start\n')
    const r = countRealized(message.value || '')
    if (r < 0) st.parseErrors++
    else st.realized += r
    if (++st.events === opts.expected) {
      st.done = true
      setImmediate(finish)
    }
    return true
  }

  consumer.on(consumer.events.CRASH, (e) => fail('crash', e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topic: opts.topic, fromBeginning: true })
  if (opts.eachMessage) {
    await consumer.run({
      eachMessage: async ({ message }) => {
        handle(message)
      },
    })
    return
  }
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || !handle(message)) break
        resolveOffset(message.offset)
      }
      await heartbeat()
    },
  })
}

process.on('unhandledRejection', (e) => fail('unhandled rejection', e))
process.on('uncaughtException', (e) => fail('uncaught exception', e))
main().catch((e) => fail('error', e))
