// Issue 19: a refund (`count`) of a request charged before `fastify.rateLimit.reset()` took back
// a unit charged after it: limit + 1 requests passed, on every algorithm. A charge made before a
// reset of its bucket now gives nothing back (the bucket it was charged to is gone).
import t from 'tap'
import { algorithmNames } from '../../algorithms/index.js'
import { build } from '../support/helpers.js'

for (const algorithm of algorithmNames) {
  t.test(`${algorithm}: a refund of a charge made before reset() takes nothing from the new bucket`, async (t) => {
    const { app } = await build({ algorithm })
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    // count: 'failed': a 200 is refunded when it ends, a 401 stays counted
    app.get('/login', { config: { rateLimit: { ip: '2/min', count: 'failed' } } }, async (request, reply) => {
      if (request.headers['x-wait'] !== undefined) await gate
      if (request.headers['x-fail'] !== undefined) return await reply.code(401).send('no')
      return 'ok'
    })
    // charged before the reset, refunded after it
    const early = app.inject({ url: '/login', headers: { 'x-wait': '1' } })
    await new Promise((resolve) => setTimeout(resolve, 20))
    await app.rateLimit.reset({ route: 'GET /login', ip: '127.0.0.1' })
    // two failures fill the new bucket, and stay counted
    t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 401)
    t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 401)
    release()
    t.equal((await early).statusCode, 200)
    await new Promise((resolve) => setImmediate(resolve))
    t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 429, 'the limit holds: 2 failures in the new bucket')
    await app.close()
  })
}

t.test('clear() too: a charge made before it gives nothing back', async (t) => {
  const { app } = await build()
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.get('/login', { config: { rateLimit: { ip: '1/min', count: 'failed' } } }, async (request, reply) => {
    if (request.headers['x-wait'] !== undefined) await gate
    if (request.headers['x-fail'] !== undefined) return await reply.code(401).send('no')
    return 'ok'
  })
  const early = app.inject({ url: '/login', headers: { 'x-wait': '1' } })
  await new Promise((resolve) => setTimeout(resolve, 20))
  await app.rateLimit.clear()
  t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 401)
  release()
  await early
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 429)
  await app.close()
})
