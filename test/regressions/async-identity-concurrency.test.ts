// Issue 19: `concurrency: { user: 1 }` with an async `user` resolver answered 500
// FST_LIMITER_INVALID_IDENTITY on every request, signed in or not: the slot code called the
// resolver a second time, synchronously, and got a promise. The same with `concurrency.key` and
// an async `key`. A synchronous resolver was called twice per request. Now one identity per
// request and limit serves the rates and the slot, each function called once.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { build } from '../support/helpers.js'

/** A handler that holds its request until `release()`. */
function holder () {
  const waiting: Array<() => void> = []
  return {
    handler: async () => await new Promise<string>((resolve) => waiting.push(() => resolve('ok'))),
    release: () => { for (const go of waiting.splice(0)) go() }
  }
}

for (const mode of ['async', 'sync'] as const) {
  t.test(`concurrency.user with a ${mode} user resolver: one in flight per user, the resolver called once`, async (t) => {
    let calls = 0
    const user = (request: FastifyRequest) => {
      calls++
      const id = request.headers['x-user'] as string | undefined
      return mode === 'async' ? Promise.resolve(id) : id
    }
    const { app } = await build({ user })
    const { handler, release } = holder()
    app.get('/render', { config: { rateLimit: { user: '100/hour', ip: '100/hour', concurrency: { user: 1 } } } }, handler)
    const first = app.inject({ url: '/render', headers: { 'x-user': 'u1' } })
    await new Promise((resolve) => setTimeout(resolve, 20))
    const second = await app.inject({ url: '/render', headers: { 'x-user': 'u1' } })
    t.equal(second.statusCode, 429, 'the second request of the user finds its slot taken')
    t.equal(second.json().message, 'Rate limit exceeded, retry in 1 second')
    const other = app.inject({ url: '/render', headers: { 'x-user': 'u2' } })
    const anonymous = app.inject({ url: '/render' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    release()
    t.equal((await first).statusCode, 200)
    t.equal((await other).statusCode, 200, 'another user has a slot of its own')
    t.equal((await anonymous).statusCode, 200, 'an anonymous request has no user slot')
    t.equal(calls, 4, 'the resolver was called once per request')
    await app.close()
  })
}

t.test('concurrency.key with an async key function', async (t) => {
  let calls = 0
  const { app } = await build()
  const { handler, release } = holder()
  app.get('/k', {
    config: {
      rateLimit: {
        key: async (request) => { calls++; return request.headers['x-key'] as string | undefined },
        rate: '100/hour',
        ip: '100/hour',
        concurrency: { key: 1 }
      }
    }
  }, handler)
  const first = app.inject({ url: '/k', headers: { 'x-key': 'k1' } })
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await app.inject({ url: '/k', headers: { 'x-key': 'k1' } })).statusCode, 429)
  const noKey = app.inject({ url: '/k' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  release()
  t.equal((await first).statusCode, 200)
  t.equal((await noKey).statusCode, 200)
  t.equal(calls, 3)
  await app.close()
})
