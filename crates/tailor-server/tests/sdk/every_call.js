// The calls both Node sender scripts make, through whichever SDK `call(method, params)`
// wraps: for 3 users, an anonymous view, alias, identify, three views, page, screen, group
// and a purchase (30 calls). Ids, users and items start with `prefix`.
'use strict'

module.exports = function everyCall(call, prefix) {
  const item = (i) => `${prefix.toUpperCase()}-P${i}`
  for (let u = 0; u < 3; u++) {
    const userId = `${prefix}-user-${u}`
    const anonymousId = `${prefix}-anon-${u}`
    call('track', { anonymousId, event: 'Product Viewed', messageId: `${prefix}-v-anon-${u}`,
      properties: { product_id: item(9), category: prefix, price: 4 } })
    call('alias', { userId, previousId: anonymousId, messageId: `${prefix}-a-${u}` })
    call('identify', { userId, traits: { plan: 'pro', email: null }, messageId: `${prefix}-i-${u}` })
    for (let i = 0; i < 3; i++) {
      call('track', { userId, event: 'Product Viewed', messageId: `${prefix}-v-${u}-${i}`,
        properties: { product_id: item(i), category: prefix, price: 9.5, currency: 'USD' } })
    }
    call('page', { userId, category: 'Docs', name: 'Home', messageId: `${prefix}-p-${u}`,
      properties: { url: 'http://shop.test/' } })
    call('screen', { userId, name: 'Cart', messageId: `${prefix}-s-${u}` })
    call('group', { userId, groupId: `${prefix}-team-${u % 2}`, traits: { name: 'Team' },
      messageId: `${prefix}-g-${u}` })
    call('track', { userId, event: 'Order Completed', messageId: `${prefix}-o-${u}`,
      properties: { order_id: `${prefix}-o-${u}`, revenue: 9.5,
        products: [{ product_id: item(0), quantity: 1, price: 9.5 }] } })
  }
}
