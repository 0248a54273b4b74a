import type { Test } from 'tap'
import type { FastifyLimiterOptions } from '../../index.js'
import { build } from './helpers.js'

/**
 * The habits of @fastify/rate-limit users (issue 20) on a store that is not the memory store:
 * there a denial is remembered on the app server (lib/request/denials.ts) and the next requests
 * of that bucket are answered without the store, so this checks that such answers keep the
 * plugin key's buckets, the denial status, `deniedHeaders` and the callbacks. `store` names the
 * store (`sqlite`, `redis`); the store is the test's.
 */
export async function habitsOnStore (t: Test, store: FastifyLimiterOptions): Promise<void> {
  const calls: string[] = []
  const { app } = await build({
    ...store,
    // every decision from the store: a slow first call must not fall back to the memory store
    storeTimeoutMs: 10_000,
    onStoreError: 'deny',
    key: (request) => request.headers['x-api-key'] as string | undefined,
    rate: '100/min',
    statusCode: 503,
    deniedHeaders: { remaining: false, reset: false },
    onExceeding: (request, context) => { calls.push(`allowed ${context.bucket}`) },
    onExceeded: (request, context) => { calls.push(`denied ${context.bucket} ${context.statusCode}`) }
  })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
  const send = (key?: string) => app.inject({ url: '/r', headers: key === undefined ? {} : { 'x-api-key': key } })
  for (const key of ['a', 'b', undefined]) {
    const replies = [await send(key), await send(key), await send(key), await send(key)]
    t.same(replies.map((r) => r.statusCode), [200, 200, 503, 503], `key ${key ?? '(none)'}: its own bucket`)
    // the fourth is answered from the remembered denial: the same status and headers
    for (const denied of replies.slice(2)) {
      t.same([denied.headers['x-ratelimit-limit'], denied.headers['x-ratelimit-remaining'], denied.headers['x-ratelimit-reset']], ['2', undefined, undefined])
      t.ok(Number(denied.headers['retry-after']) > 0)
    }
  }
  const kinds = ['key', 'key', 'ip']
  t.same(calls, kinds.flatMap((kind) => [`allowed ${kind}`, `allowed ${kind}`, `denied ${kind} 503`, `denied ${kind} 503`]))
}
