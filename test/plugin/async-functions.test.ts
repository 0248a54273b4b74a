// Issue 12, point 1: every function the plugin accepts may return a promise (or any
// thenable), which is awaited; each async twin behaves exactly as its synchronous twin.
import t from 'tap'
import type { Test } from 'tap'
import { build } from '../support/helpers.js'
import { formatValue } from '../../lib/core/format.js'

type Fn = (...args: any[]) => unknown

/** The three ways a function may answer: at once, with a promise, with a bare thenable. */
const modes: Record<string, <F extends Fn>(fn: F) => F> = {
  sync: (fn) => fn,
  async: (fn) => (async (...args: unknown[]) => await fn(...args)) as never,
  thenable: (fn) => ((...args: unknown[]) => ({
    then (resolve: (v: unknown) => void, reject: (e: unknown) => void) {
      let value: unknown
      try {
        value = fn(...args)
      } catch (err) {
        reject(err)
        return
      }
      resolve(value)
    }
  })) as never
}

interface Seen { status: number, body: string, headers: Record<string, unknown> }

async function run (
  wrap: <F extends Fn>(fn: F) => F,
  scenario: (wrap: <F extends Fn>(fn: F) => F) => Promise<Seen[]>
): Promise<Seen[]> {
  return await scenario(wrap)
}

function seen (res: { statusCode: number, body: string, headers: Record<string, unknown> }): Seen {
  const headers: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(res.headers)) if (/ratelimit|retry-after|content-type/.test(name)) headers[name] = value
  return { status: res.statusCode, body: res.body, headers }
}

/** Runs one scenario in every mode and checks each gives what the synchronous one gives. */
async function twins (t: Test, name: string, scenario: (wrap: <F extends Fn>(fn: F) => F) => Promise<Seen[]>): Promise<Seen[]> {
  const expected = await run(modes.sync, scenario)
  for (const mode of ['async', 'thenable']) {
    t.same(await run(modes[mode], scenario), expected, `${name}: ${mode} as sync`)
  }
  return expected
}

const ok = async (request: { rateLimit: unknown }) => request.rateLimit ?? { limited: false }

t.test('user: values, no identity, throws and non-identities', async (t) => {
  const values: Array<() => unknown> = [
    () => 'u1', () => 'u1', () => 'u1', () => undefined, () => '', () => 7,
    () => { throw new Error('token expired') }, () => ({ id: 1 }), () => Number.NaN
  ]
  const out = await twins(t, 'user', async (wrap) => {
    let i = 0
    const { app } = await build({ user: wrap(() => values[i]()) as () => string })
    app.get('/r', { config: { rateLimit: { user: '2/min', ip: '5/min' } } }, ok)
    const results: Seen[] = []
    for (i = 0; i < values.length; i++) results.push(seen(await app.inject('/r')))
    return results
  })
  t.same(out.map((s) => s.status), [200, 200, 429, 200, 200, 200, 500, 500, 500])
  t.match(out[6].body, /FST_LIMITER_RESOLVER_FAILED.*the user function threw \(its error is the cause\)"/)
  t.match(out[7].body, /FST_LIMITER_INVALID_IDENTITY.*returned \{\\"id\\":1\}/)
})

t.test('a user resolver returning a promise of a promise is never printed as {}', async (t) => {
  const { app } = await build({ user: async () => await Promise.resolve({ then: undefined, x: 1 }) as never })
  app.get('/r', { config: { rateLimit: { user: '2/min' } } }, ok)
  const res = await app.inject('/r')
  t.equal(res.json().code, 'FST_LIMITER_INVALID_IDENTITY')
  t.equal(formatValue(Promise.resolve(1)), 'a Promise')
  t.equal(formatValue({ then () {} }), 'a thenable')
  t.equal(formatValue({ then: 1 }), '{"then":1}')
})

t.test('key, with apply first and all, throws and rejects', async (t) => {
  const keys: Array<() => unknown> = [() => 'k', () => 'k', () => 'k', () => undefined, () => undefined, () => { throw new Error('no') }, () => true]
  const out = await twins(t, 'key', async (wrap) => {
    let i = 0
    const { app } = await build({ user: wrap(() => 'u') as () => string })
    app.get('/first', { config: { rateLimit: { key: wrap(() => keys[i]()) as () => string, rate: '2/min', user: '1/min' } } }, ok)
    app.get('/all', { config: { rateLimit: { key: wrap(() => keys[i]()) as () => string, rate: '2/min', user: '3/min', ip: '4/min', apply: 'all' } } }, ok)
    const results: Seen[] = []
    for (const url of ['/first', '/all']) {
      for (i = 0; i < keys.length; i++) results.push(seen(await app.inject(url)))
    }
    return results
  })
  t.same(out.map((s) => s.status), [200, 200, 429, 200, 429, 500, 500, 200, 200, 429, 200, 429, 500, 500])
  t.match(out[5].body, /FST_LIMITER_RESOLVER_FAILED.*the key function threw \(its error is the cause\)"/)
  t.match(out[6].body, /FST_LIMITER_INVALID_IDENTITY/)
})

t.test('cost: values, bad values counted at 1, throws', async (t) => {
  const costs: Array<() => unknown> = [() => 3, () => 0, () => { throw new Error('no cost') }, () => 'x', () => 4, () => 1]
  const out = await twins(t, 'cost', async (wrap) => {
    let i = 0
    const { app } = await build({ algorithm: 'fixed-window' })
    app.get('/q', { config: { rateLimit: { ip: '10/min', cost: wrap(() => costs[i]()) as () => number } } }, ok)
    const results: Seen[] = []
    for (i = 0; i < costs.length; i++) results.push(seen(await app.inject('/q')))
    return results
  })
  // 3, then three uncountable requests charged 1 each (6 used), then 4 (10 used), then 1: denied
  t.same(out.map((s) => s.status), [200, 500, 500, 500, 200, 429])
  t.match(out[1].body, /FST_LIMITER_INVALID_COST/)
  t.match(out[2].body, /FST_LIMITER_RESOLVER_FAILED.*the cost function threw \(its error is the cause\)"/)
})

t.test('exempt: true passes unlimited, false limits, a throw is a 500', async (t) => {
  const answers: Array<() => unknown> = [() => true, () => true, () => false, () => false, () => 0, () => { throw new Error('exempt broke') }]
  const out = await twins(t, 'exempt', async (wrap) => {
    let i = 0
    const { app } = await build({ exempt: wrap(() => answers[i]()) as () => boolean })
    app.get('/r', { config: { rateLimit: '1/min' } }, ok)
    const results: Seen[] = []
    for (i = 0; i < answers.length; i++) results.push(seen(await app.inject('/r')))
    return results
  })
  t.same(out.map((s) => s.status), [200, 200, 200, 429, 429, 500])
  t.same(JSON.parse(out[0].body), { limited: false })
  t.notOk(out[0].headers['x-ratelimit-limit'])
})

t.test('exempt: async () => false limits (a promise is not a truthy answer)', async (t) => {
  const { app } = await build({ exempt: async () => false })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '0')
  t.equal((await app.inject('/r')).statusCode, 429)
})

t.test('errorResponseBuilder: its body, in the format\'s content type; a throw is a 500', async (t) => {
  const out = await twins(t, 'errorResponseBuilder', async (wrap) => {
    let broken = false
    const { app } = await build({
      errorFormat: 'problem',
      errorResponseBuilder: wrap((_request: unknown, context: { after: string }) => {
        if (broken) throw new Error('builder broke')
        return { code: 'RATE_LIMITED', after: context.after }
      }) as () => unknown
    })
    app.get('/r', { config: { rateLimit: '1/min' } }, ok)
    const results = [seen(await app.inject('/r')), seen(await app.inject('/r'))]
    broken = true
    results.push(seen(await app.inject('/r')))
    return results
  })
  t.same(out.map((s) => s.status), [200, 429, 500])
  t.match(JSON.parse(out[1].body), { code: 'RATE_LIMITED', after: /^\d+ seconds$/ })
  t.match(out[1].headers['content-type'], 'application/problem+json')
  t.match(out[2].body, /builder broke/)
})

t.test('onExceeded: awaited nowhere, a rejection is logged', async (t) => {
  for (const mode of ['sync', 'async', 'thenable']) {
    const logs: string[] = []
    const calls: string[] = []
    const { app } = await build({
      onExceeded: modes[mode](() => {
        calls.push('x')
        throw new Error('hook broke')
      }) as () => void
    }, { logger: { level: 'error', stream: { write: (line: string) => { logs.push(line) } } } })
    app.get('/r', { config: { rateLimit: '1/min' } }, ok)
    await app.inject('/r')
    t.equal((await app.inject('/r')).statusCode, 429, mode)
    await new Promise((resolve) => setImmediate(resolve))
    t.same(calls, ['x'])
    t.equal(logs.filter((l) => l.includes('onExceeded failed')).length, 1, mode)
  }
})

t.test('reset(request) where the limiter did not run awaits async resolvers', async (t) => {
  const out = await twins(t, 'reset', async (wrap) => {
    const { app } = await build({ user: wrap((r: { headers: Record<string, unknown> }) => r.headers['x-user']) as () => string, hook: 'preHandler' })
    app.get('/r', { config: { rateLimit: { user: '1/min', key: wrap((r: { headers: Record<string, unknown> }) => r.headers['x-key'] as string | undefined), rate: '1/min' } } }, ok)
    app.addHook('onRequest', async (request) => {
      if (request.headers['x-reset'] === '1') await app.rateLimit.reset(request)
    })
    const call = (headers: Record<string, string>) => app.inject({ url: '/r', headers: { 'x-user': 'u', ...headers } })
    const results: Seen[] = []
    const sends: Array<Record<string, string>> = [{}, {}, { 'x-reset': '1' }, {}, { 'x-key': 'k' }, { 'x-key': 'k' }, { 'x-key': 'k', 'x-reset': '1' }]
    for (const headers of sends) {
      results.push(seen(await call(headers)))
    }
    return results
  })
  t.same(out.map((s) => s.status), [200, 429, 200, 429, 200, 429, 200])
})

t.test('reset(request) turns a rejecting resolver into its coded error', async (t) => {
  const { app } = await build({ user: async () => { throw new Error('db down') }, hook: 'preHandler' })
  app.get('/r', { config: { rateLimit: { user: '1/min' } } }, ok)
  let error: { code?: string, message: string } | undefined
  app.addHook('onRequest', async (request) => {
    error = await app.rateLimit.reset(request).then(() => undefined, (err: Error) => err)
  })
  await app.inject('/r')
  t.equal(error?.code, 'FST_LIMITER_RESOLVER_FAILED')
  t.match(error?.message, 'the user function threw (its error is the cause)')
})
