// Issue 19: a thenable `user` resolver that called back twice froze the process (the hook's step
// counter ran past its last step and looped), and a thenable `count` that called back `false`
// twice refunded twice. A promise settles once; a thenable's first answer is the one that counts.
import t from 'tap'
import { build } from '../support/helpers.js'

/** A thenable that calls its callback twice, with `first` then `second`. */
const twice = <T>(first: T, second: T): PromiseLike<T> => ({
  then (onFulfilled?: ((value: T) => unknown) | null) {
    setImmediate(() => {
      onFulfilled?.(first)
      onFulfilled?.(second)
    })
    return undefined as never
  }
})

t.test('a user resolver whose thenable answers twice: the first answer counts, once', async (t) => {
  const { app } = await build({ user: () => twice<string | undefined>('u1', undefined) })
  let handled = 0
  app.get('/r', { config: { rateLimit: { user: '2/min', ip: '100/min' } } }, async () => { handled++; return 'ok' })
  const codes = []
  for (let i = 0; i < 3; i++) codes.push((await app.inject('/r')).statusCode)
  t.same(codes, [200, 200, 429], 'counted as u1 (2/min), never as the IP')
  t.equal(handled, 2, 'each request ran its handler once')
  await app.close()
})

t.test('a rejection after the answer, or an answer after a rejection, is ignored', async (t) => {
  const flaky: PromiseLike<string> = {
    then (onFulfilled, onRejected) {
      setImmediate(() => {
        onRejected?.(new Error('down'))
        onFulfilled?.('u1')
      })
      return undefined as never
    }
  }
  const { app } = await build({ user: () => flaky })
  app.get('/r', { config: { rateLimit: { user: '2/min' } } }, async () => 'ok')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  await app.close()
})

t.test('a count function whose thenable answers false twice refunds once', async (t) => {
  const { app } = await build()
  app.get('/login', {
    config: { rateLimit: { ip: '3/min', count: (request) => request.headers['x-fail'] === undefined ? true : twice(false, false) } }
  }, async () => 'ok')
  t.equal((await app.inject('/login')).statusCode, 200)
  t.equal((await app.inject('/login')).statusCode, 200)
  t.equal((await app.inject({ url: '/login', headers: { 'x-fail': '1' } })).statusCode, 200)
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  // two counted, the third refunded once: 1 left, which the peeked request would take (a second
  // refund would have taken back one of the others, leaving 1 after it)
  const peek = await app.rateLimit.peek({ route: 'GET /login', ip: '127.0.0.1' })
  t.equal(peek?.allowed, true)
  t.equal(peek?.remaining, 0)
  await app.close()
})
