// Sends every call type to Tailor with Segment's official Node SDK (@segment/analytics-node),
// unchanged: only its host and write key are set (`host` is the server's origin; the SDK
// posts to `${host}/v1/batch` with the write key as the basic-auth user).
//
// usage: node segment_node_send.js ORIGIN WRITE_KEY  -> prints the messageIds sent, one JSON list
// (exits 1 with {"failures": [...]} when any call was not delivered)
'use strict'
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
  for (let u = 0; u < 3; u++) {
    const userId = `node-user-${u}`
    const anonymousId = `node-anon-${u}`
    call('track', { anonymousId, event: 'Product Viewed', messageId: `nv-anon-${u}`,
      properties: { product_id: 'NODE-P9', category: 'node', price: 4 } })
    call('alias', { userId, previousId: anonymousId, messageId: `na-${u}` })
    call('identify', { userId, traits: { plan: 'pro', email: null }, messageId: `ni-${u}` })
    for (let i = 0; i < 3; i++) {
      call('track', { userId, event: 'Product Viewed', messageId: `nv-${u}-${i}`,
        properties: { product_id: `NODE-P${i}`, category: 'node', price: 9.5, currency: 'USD' } })
    }
    call('page', { userId, category: 'Docs', name: 'Home', messageId: `np-${u}`,
      properties: { url: 'http://shop.test/' } })
    call('screen', { userId, name: 'Cart', messageId: `ns-${u}` })
    call('group', { userId, groupId: `node-team-${u % 2}`, traits: { name: 'Team' },
      messageId: `ng-${u}` })
    call('track', { userId, event: 'Order Completed', messageId: `no-${u}`,
      properties: { order_id: `node-o-${u}`, revenue: 9.5,
        products: [{ product_id: 'NODE-P0', quantity: 1, price: 9.5 }] } })
  }
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
