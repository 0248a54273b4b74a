import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { Clock, hit } from './helpers.js'

// fastify.rateLimit.clear() forgets the buckets of its own registration only: apps sharing one
// store with key prefixes 'a', 'b' and '' each keep theirs when another clears. Run on every
// store by clear-prefix.test.ts and redis/clear-prefix.test.ts.

/** Three apps on one store (what `store` makes for each), each with its own keyPrefix. */
export async function threeApps (t: Test, store: (prefix: string) => Partial<FastifyLimiterOptions>): Promise<Record<string, FastifyInstance>> {
  const clock = new Clock()
  const apps: Record<string, FastifyInstance> = {}
  for (const keyPrefix of ['a', 'b', '']) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(limiter, { clock: clock.read, keyPrefix, storeTimeoutMs: 10_000, onStoreError: 'deny', ...store(keyPrefix) })
    app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
    apps[keyPrefix] = app
  }
  return apps
}

/** Fills every app's bucket, clears one, and checks that only its bucket was forgotten. */
export async function clearsItsOwn (t: Test, apps: Record<string, FastifyInstance>): Promise<void> {
  for (const app of Object.values(apps)) t.same(await hit(app, '/r', 3), [200, 200, 429])
  await apps.a.rateLimit.clear()
  t.same(await hit(apps.a, '/r', 1), [200], "'a' starts over")
  t.same(await hit(apps.b, '/r', 1), [429], "'b' keeps its bucket")
  t.same(await hit(apps[''], '/r', 1), [429], "'' keeps its bucket")
  await apps[''].rateLimit.clear()
  t.same(await hit(apps[''], '/r', 1), [200], "'' starts over")
  t.same(await hit(apps.a, '/r', 2), [200, 429], "'a' keeps its bucket")
  t.same(await hit(apps.b, '/r', 1), [429], "'b' keeps its bucket")
}
