// Sends every call type to Tailor with Segment's official Node SDK (@segment/analytics-node),
// unchanged: only its host and write key are set (`host` is the server's origin; the SDK
// posts to `${host}/v1/batch` with the write key as the basic-auth user).
//
// usage: node segment_node_send.js ORIGIN WRITE_KEY  -> prints the messageIds sent, one JSON list
// (exits 1 with {"failures": [...]} when any call was not delivered)
'use strict'
const everyCall = require('./every_call')
const { Analytics } = require('@segment/analytics-node')

async function main() {
  const [host, writeKey] = process.argv.slice(2)
  const analytics = new Analytics({ writeKey, host, maxRetries: 0, flushInterval: 200 })
  const sent = []
  const failures = []
  const delivered = (id) => (err) => {
    if (err) failures.push(`${id}: ${err.reason ?? err}`)
  }
  const call = (method, params) => {
    sent.push(params.messageId)
    analytics[method](params, delivered(params.messageId))
  }
  everyCall(call, 'node')
  await analytics.closeAndFlush({ timeout: 20000 })
  if (failures.length) {
    console.log(JSON.stringify({ failures }))
    process.exit(1)
  }
  console.log(JSON.stringify(sent))
}

main().catch((e) => {
  console.log(JSON.stringify({ failures: [String(e && e.stack || e)] }))
  process.exit(1)
})
