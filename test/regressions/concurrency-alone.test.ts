// Issue 19: `concurrency: { ip: 2 }` alone was refused ("a limit needs ip, user, or key with
// rate"): a user who wants only an in-flight cap (Stripe's concurrent-requests limiter) had to
// invent a rate. A limit may now be a concurrency limit alone.
import t from 'tap'
import { build, thrown } from '../support/helpers.js'

t.test('a concurrency limit without rates caps the requests in flight, and charges nothing else', async (t) => {
  const { app } = await build()
  const waiting: Array<() => void> = []
  app.get('/r', { config: { rateLimit: { concurrency: { ip: 2 } } } }, async () => await new Promise((resolve) => waiting.push(() => resolve('ok'))))
  const first = [app.inject('/r'), app.inject('/r')]
  await new Promise((resolve) => setTimeout(resolve, 20))
  const third = await app.inject('/r')
  t.equal(third.statusCode, 429)
  t.equal(third.headers['retry-after'], '1')
  t.equal(third.json().message, 'Rate limit exceeded, retry in 1 second')
  for (const go of waiting.splice(0)) go()
  t.same((await Promise.all(first)).map((r) => r.statusCode), [200, 200])
  // the slots came back: as many requests as the cap, again and again (no rate counts them)
  for (let round = 0; round < 3; round++) {
    const next = [app.inject('/r'), app.inject('/r')]
    await new Promise((resolve) => setTimeout(resolve, 10))
    for (const go of waiting.splice(0)) go()
    t.same((await Promise.all(next)).map((r) => r.statusCode), [200, 200])
  }
  await app.close()
})

t.test('a key counted only by its concurrency needs no rate; ban and delay need one', async (t) => {
  const { app } = await build()
  app.get('/k', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, concurrency: { key: 1 } } } }, async () => 'ok')
  t.equal(thrown(() => app.get('/b', { config: { rateLimit: { concurrency: { ip: 1 }, ban: { after: 1, for: '1min' } } } }, async () => 'ok'))?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
  t.equal(thrown(() => app.get('/d', { config: { rateLimit: { concurrency: { ip: 1 }, delay: { maxMs: 100 } } } }, async () => 'ok'))?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
  t.equal(thrown(() => app.get('/n', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string } } }, async () => 'ok'))?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG', 'a key alone limits nothing')
  await app.close()
})
