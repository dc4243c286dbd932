// Sends every call type to Tailor with RudderStack's Node SDK (@rudderstack/rudder-sdk-node),
// unchanged: only its data plane URL and write key are set (it posts gzip batches to
// `${dataPlaneUrl}/v1/batch` with the write key as the basic-auth user).
//
// usage: node rudder_node_send.js ORIGIN WRITE_KEY  -> prints the messageIds sent, one JSON list
// (exits 1 with {"failures": [...]} when any call was not delivered)
'use strict'
const everyCall = require('./every_call')
const Analytics = require('@rudderstack/rudder-sdk-node')

async function main() {
  const [dataPlaneUrl, writeKey] = process.argv.slice(2)
  const failures = []
  const client = new Analytics(writeKey, {
    dataPlaneUrl,
    retryCount: 0,
    flushAt: 8,
    flushInterval: 200,
    logLevel: 'error',
    errorHandler: (err) => failures.push(`batch: ${err && err.message}`),
  })
  const sent = []
  const delivered = (id) => (err) => {
    if (err) failures.push(`${id}: ${err.message ?? err}`)
  }
  const call = (method, params) => {
    sent.push(params.messageId)
    client[method](params, delivered(params.messageId))
  }
  everyCall(call, 'rs')
  await client.flush()
  // Callbacks run on the next turn after each batch's answer.
  await new Promise((r) => setTimeout(r, 50))
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
