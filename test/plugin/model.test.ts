// The model-based test of the decision engine (issue 19, item 6): seeded random routes and
// sequences of requests, clock moves, holds and releases, peek, consume, settle and reset, run
// through fastify.inject on the memory store, a real SQLite file and a real redis-server. Every
// step's status and decision (request.rateLimit, field by field) must be one the reference model
// (test/support/model.ts, whose header says what it covers and why) allows; fast-check shrinks a
// failing sequence to a short one.
//
// The seed is fixed, so `npm test` runs the same sequences every time; it is printed.
// FASTIFY_LIMITER_MODEL_SEED and FASTIFY_LIMITER_MODEL_RUNS override it and the number of runs
// per store (CI may set a longer run, for example FASTIFY_LIMITER_MODEL_RUNS=2000, with a new
// seed per build). A failure names its seed and shrunk path: set both to replay it.
//
// Nothing here depends on timing. The clock is injected and moved by the commands. A request that
// waits (`delay`) waits a real timer of at most 200 ms; the model says how long, and the clock is
// moved by that much right after the request read it. The denial cache of SQLite and Redis also
// expires on the real clock: the model accepts both answers where that could differ. Each step
// waits for the response's end (and one turn of the event loop, so that its settlement is sent)
// before the next one starts.
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import limiter from '../../index.js'
import type { FastifyLimiterOptions, RateLimitObject, RateString } from '../../index.js'
import { KINDS, Waits, arrive, clear, consume, end, newState, peek, reset } from '../support/model.js'
import type { Action, Arrival, Choose, Decision, Ending, Kind, Limit, Rate, Selector, State } from '../support/model.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'
import * as redisScripts from '../../stores/redis-scripts.js'
import type { RedisScript } from '../../stores/redis-scripts.js'

const SEED = Number(process.env.FASTIFY_LIMITER_MODEL_SEED ?? 196)
const RUNS = Number(process.env.FASTIFY_LIMITER_MODEL_RUNS ?? 100)
const ROUTE = 'POST /r'
const IPS = ['10.0.0.1', '10.0.0.2']
const T0 = 1_700_000_000_000

// ---------------------------------------------------------------- scenarios

/** Which of the route's functions return a promise. */
interface Async {
  user: boolean
  key: boolean
  cost: boolean
  count: boolean
  settle: boolean
}

type Command =
  | { do: 'request', ip: string, user?: string, key?: string, cost: number, early?: number, hold: boolean, ending: Ending, action: Action }
  | { do: 'release', which: number }
  | { do: 'advance', ms: number }
  | { do: 'near', ms: number }
  | { do: 'peek', selector: Selector }
  | { do: 'consume', selector: Selector, cost?: number }
  | { do: 'reset', selector: Selector, route: boolean }
  | { do: 'clear' }

interface Scenario {
  limit: Omit<Limit, 'denialCache'>
  async: Async
  commands: Command[]
}

/** Windows of a second or more, and one of 100 ms, whose denials are short enough to wait for (`delay`). */
const WINDOWS: Array<[number, string]> = [[1000, 's'], [2000, '2s'], [3000, '3s'], [100, '100ms']]

/** One or two rates of distinct windows. */
const ratesArb: fc.Arbitrary<Rate[]> = fc.uniqueArray(fc.record({ limit: fc.integer({ min: 1, max: 4 }), w: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 2, selector: (r) => r.w })
  .map((rates) => rates.map(({ limit, w }) => ({ text: `${limit}/${WINDOWS[w][1]}`, limit, windowMs: WINDOWS[w][0] })))

/** `arb` or, one time in `freq`, undefined. */
const optional = <T>(arb: fc.Arbitrary<T>, freq = 2): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq })

const limitArb = fc.record({
  algorithm: fc.constantFrom('fixed-window' as const, 'sliding-log' as const),
  rates: fc.record({ key: optional(ratesArb), user: optional(ratesArb), ip: optional(ratesArb, 4) }),
  apply: fc.constantFrom('first' as const, 'all' as const),
  cost: fc.oneof(fc.constant('function' as const), fc.integer({ min: 1, max: 2 })),
  count: fc.constantFrom('all' as const, 'failed' as const, 'successful' as const, 'function' as const),
  settle: fc.boolean(),
  ban: optional(fc.record({ after: fc.integer({ min: 1, max: 3 }), forMs: fc.constantFrom(500, 1500, 4000), backoff: fc.constantFrom(1, 2) })),
  concurrency: optional(fc.record({ key: optional(fc.integer({ min: 1, max: 2 })), user: optional(fc.integer({ min: 1, max: 2 })), ip: optional(fc.integer({ min: 1, max: 2 })) })),
  delayMaxMs: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.integer({ min: 50, max: 200 }) }),
  // one route in ten in dry-run mode
  dryRun: fc.integer({ min: 0, max: 9 }).map((n) => n === 9),
  async: fc.record({ user: fc.boolean(), key: fc.boolean(), cost: fc.boolean(), count: fc.boolean(), settle: fc.boolean() })
}).filter((l) => KINDS.some((k) => l.rates[k] !== undefined))

/** The identities a selector names: at least one of key, user, ip. */
const selectorArb: fc.Arbitrary<Selector> = fc.record({ key: fc.constantFrom(undefined, 'k1', 'k2'), user: fc.constantFrom(undefined, 'u1', 'u2'), ip: fc.constantFrom(undefined, ...IPS) })
  .filter((s) => KINDS.some((k) => s[k] !== undefined))
  .map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as Selector)

/**
 * A cost, sent as at most the route's smallest limit (`fit`): the commands do not depend on the
 * route, so that fast-check shrinks both.
 */
const costArb = fc.integer({ min: 1, max: 4 })

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ do: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('settle' as const), cost: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('consume' as const), cost: costArb }) },
  { weight: 1, arbitrary: fc.constant({ do: 'peek' as const }) },
  { weight: 1, arbitrary: fc.constant({ do: 'reset' as const }) }
)

const requestArb = fc.record({
  do: fc.constant('request' as const),
  ip: fc.constantFrom(...IPS),
  user: fc.constantFrom(undefined, '', 'u1', 'u2'),
  key: fc.constantFrom(undefined, '', 'k1', 'k2'),
  // now and then 0, which is not a cost: counted at 1, then a 500
  cost: fc.oneof({ weight: 9, arbitrary: costArb }, { weight: 1, arbitrary: fc.constant(0) }),
  // now and then `early` ms before the last 429 said it would pass (the clock moves there), where short waits (`delay`) are
  early: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 150 }) }),
  hold: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  ending: fc.record({ status: fc.constantFrom(200, 200, 200, 401, 500), counts: fc.boolean(), settleTo: fc.integer({ min: 0, max: 8 }) }),
  action: actionArb
})

const commandsArb: fc.Arbitrary<Command[]> = fc.array(fc.oneof(
  { weight: 16, arbitrary: requestArb },
  { weight: 6, arbitrary: fc.record({ do: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 61, max: 1500 }), fc.constantFrom(1000, 2000, 3000)) }) },
  // to `ms` before the next whole second, where windows end
  { weight: 3, arbitrary: fc.record({ do: fc.constant('near' as const), ms: fc.integer({ min: 1, max: 150 }) }) },
  { weight: 3, arbitrary: fc.record({ do: fc.constant('release' as const), which: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('peek' as const), selector: selectorArb }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('consume' as const), selector: selectorArb, cost: optional(costArb) }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('reset' as const), selector: selectorArb, route: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ do: 'clear' as const }) }
), { maxLength: 40, size: 'max' })

const routeArb = limitArb.map((l): Pick<Scenario, 'limit' | 'async'> => {
  const rates = Object.fromEntries(KINDS.filter((k) => l.rates[k] !== undefined).map((k) => [k, l.rates[k]])) as Limit['rates']
  const slots = Object.fromEntries(KINDS.filter((k) => l.concurrency?.[k] !== undefined).map((k) => [k, l.concurrency?.[k]]))
  const concurrency = Object.keys(slots).length === 0 ? undefined : slots as Limit['concurrency']
  return {
    limit: {
      algorithm: l.algorithm,
      rates,
      keyFn: rates.key !== undefined || concurrency?.key !== undefined,
      apply: l.apply,
      cost: l.cost === 'function' ? 'function' : fit({ rates }, l.cost),
      count: l.count,
      settle: l.settle,
      ban: l.ban === undefined ? undefined : { ...l.ban, maxMs: l.ban.backoff === 1 ? l.ban.forMs : 4 * l.ban.forMs, statusCode: 403 },
      concurrency,
      delayMaxMs: l.delayMaxMs,
      dryRun: l.dryRun
    },
    async: l.async
  }
})

const scenarioArb: fc.Arbitrary<Scenario> = fc.tuple(routeArb, commandsArb).map(([route, commands]) => ({ ...route, commands }))

/** `cost`, at most the route's smallest limit (0, not a cost, stays 0). */
function fit (limit: Pick<Limit, 'rates'>, cost: number): number {
  return Math.min(cost, ...KINDS.flatMap((k) => (limit.rates[k] ?? []).map((r) => r.limit)))
}

// ---------------------------------------------------------------- the app under test

/** A clock that the commands move, and that a request which will wait moves right after it read it. */
class Clock {
  now = T0
  #jump = 0
  readonly read = (): number => {
    const now = this.now
    this.now += this.#jump
    this.#jump = 0
    return now
  }

  jumpAfterRead (ms: number): void {
    this.#jump = ms
  }
}

/** One request on its way: what its handler does, and what the test waits for. */
class Call {
  decision: unknown = null
  result: unknown = null
  readonly entered: Promise<void>
  readonly closed: Promise<void>
  readonly gate: Promise<void>
  enter = (): void => {}
  close = (): void => {}
  open = (): void => {}

  constructor (readonly command: Extract<Command, { do: 'request' }>) {
    this.entered = new Promise((resolve) => { this.enter = resolve })
    this.closed = new Promise((resolve) => { this.close = resolve })
    this.gate = new Promise((resolve) => { this.open = resolve })
    if (!command.hold) this.open()
  }
}

/** A plain value as JSON would carry it (no undefined fields), for comparing. */
const plain = (value: unknown): unknown => value === undefined ? null : JSON.parse(JSON.stringify(value))

/** `fn`, or the same returning a promise. */
const maybeAsync = <A extends unknown[], T>(async: boolean, fn: (...args: A) => T): (...args: A) => T | Promise<T> =>
  async ? async (...args: A) => await Promise.resolve(fn(...args)) : fn

const header = (request: FastifyRequest, name: string): string | undefined => request.headers[name] as string | undefined

async function start (scenario: Scenario, storeOptions: FastifyLimiterOptions, clock: Clock, calls: Map<number, Call>): Promise<FastifyInstance> {
  const { limit, async } = scenario
  const app = Fastify()
  await app.register(limiter, {
    clock: clock.read,
    // the leases and the store calls must not end on the real clock of a busy machine
    leaseMs: 86_400_000,
    storeTimeoutMs: 60_000,
    user: maybeAsync(async.user, (request: FastifyRequest) => header(request, 'x-user')),
    ...storeOptions
  })
  const callOf = (request: FastifyRequest) => calls.get(Number(request.headers['x-id'])) as Call
  app.addHook('onRequest', async (request, reply) => {
    const call = callOf(request)
    reply.raw.once('close', () => call.close())
  })
  app.addHook('onSend', async (request) => {
    callOf(request).decision = plain(request.rateLimit)
  })
  const rates = (kind: Kind) => limit.rates[kind]?.map((r) => r.text as RateString)
  const rateLimit: RateLimitObject = {
    algorithm: limit.algorithm,
    apply: limit.apply,
    ...(limit.rates.ip === undefined ? {} : { ip: rates('ip') }),
    ...(limit.rates.user === undefined ? {} : { user: rates('user') }),
    ...(limit.rates.key === undefined ? {} : { rate: rates('key') }),
    ...(limit.keyFn ? { key: maybeAsync(async.key, (request: FastifyRequest) => header(request, 'x-key')) } : {}),
    cost: limit.cost === 'function' ? maybeAsync(async.cost, (request: FastifyRequest) => Number(header(request, 'x-cost'))) : limit.cost,
    count: limit.count === 'function' ? maybeAsync(async.count, (request: FastifyRequest) => header(request, 'x-counts') === '1') : limit.count,
    ...(limit.settle ? { settle: maybeAsync(async.settle, (request: FastifyRequest) => Number(header(request, 'x-settle'))) } : {}),
    ...(limit.ban === undefined ? {} : { ban: { after: limit.ban.after, for: limit.ban.forMs, backoff: limit.ban.backoff, max: limit.ban.maxMs, statusCode: limit.ban.statusCode } }),
    ...(limit.concurrency === undefined ? {} : { concurrency: limit.concurrency }),
    ...(limit.delayMaxMs === undefined ? {} : { delay: { maxMs: limit.delayMaxMs } }),
    dryRun: limit.dryRun
  }
  app.post('/r', { config: { rateLimit } }, async (request, reply) => {
    const call = callOf(request)
    call.decision = plain(request.rateLimit)
    call.enter()
    await call.gate
    call.result = plain(await act(app, request, call.command.action))
    return await reply.code(call.command.ending.status).send('done')
  })
  await app.ready()
  return app
}

async function act (app: FastifyInstance, request: FastifyRequest, action: Action): Promise<unknown> {
  switch (action.do) {
    case 'settle': return await app.rateLimit.settle(request, action.cost)
    case 'consume': return await app.rateLimit.consume(request, { cost: action.cost })
    case 'peek': return await app.rateLimit.peek(request)
    case 'reset': return await app.rateLimit.reset(request)
    default: return undefined
  }
}

// ---------------------------------------------------------------- running a scenario

/**
 * Every state the model may be in, and what each would answer: each denial-cache hit forks into
 * "still remembered" and "expired on the real clock". The test keeps the states whose answer
 * is the one the plugin gave.
 */
function branches<T> (states: State[], run: (state: State, choose: Choose) => T): Array<{ state: State, out: T }> {
  const all: Array<{ state: State, out: T }> = []
  for (const base of states) {
    const pending: boolean[][] = [[]]
    while (pending.length > 0) {
      const choices = pending.pop() as boolean[]
      const state = structuredClone(base)
      let i = 0
      const out = run(state, () => {
        if (i === choices.length) {
          pending.push([...choices, true])
          choices.push(false)
        }
        return choices[i++]
      })
      all.push({ state, out })
    }
  }
  return all
}

class Mismatch extends Error {}

/** Keeps the model states that answer `observed`; fails the step when none does. */
function follow<T> (step: string, found: Array<{ state: State, out: T }>, observed: unknown, tally?: Tally): State[] {
  const kept = found.filter((f) => isDeepStrictEqual(plain(f.out), observed))
  if (tally !== undefined && new Set(found.map((f) => JSON.stringify(plain(f.out)))).size > 1) count(tally, 'a remembered denial or the store')
  if (kept.length === 0) {
    const expected = [...new Set(found.map((f) => JSON.stringify(plain(f.out))))]
    throw new Mismatch(`${step}\n  plugin: ${JSON.stringify(observed)}\n  model:  ${expected.join('\n      or: ')}`)
  }
  const unique = new Map(kept.map((k) => [JSON.stringify(k.state), k.state]))
  return [...unique.values()]
}

const turn = async () => await new Promise((resolve) => setImmediate(resolve))

/** What the runs exercised: the answers seen, by kind, so that a generator that stops reaching a feature is noticed. */
type Tally = Map<string, number>

function count (tally: Tally, what: string): void {
  tally.set(what, (tally.get(what) ?? 0) + 1)
}

async function play (scenario: Scenario, storeOptions: FastifyLimiterOptions, denialCache: boolean, tally: Tally): Promise<void> {
  const limit: Limit = { ...scenario.limit, denialCache }
  const clock = new Clock()
  const calls = new Map<number, Call>()
  const app = await start(scenario, storeOptions, clock, calls)
  let states = [newState()]
  const held: Array<{ call: Call, id: number, response: Promise<unknown> }> = []
  let ids = 0
  /** When the last 429 by the rates said its request would pass: an `early` request comes a little before. */
  let passes: number | undefined

  async function release (index: number, step: string): Promise<void> {
    const [{ call, id, response }] = held.splice(index, 1)
    const { command } = call
    const now = clock.now
    call.open()
    const status = ((await response) as { statusCode: number }).statusCode
    await call.closed
    await turn()
    states = follow(step, branches(states, (s, choose) => ({
      status: command.ending.status,
      result: end(s, limit, id, arrival(id, command), command.ending, command.action, now, choose) ?? null
    })), { status, result: call.result })
    noteRequest(tally, status, null, command.action, call.result)
  }

  try {
    for (const [n, generated] of scenario.commands.entries()) {
      const command = fitted(limit, generated)
      const step = `step ${n}: ${JSON.stringify(command)} at T0+${clock.now - T0}`
      switch (command.do) {
        case 'request': {
          const id = ++ids
          const a = arrival(id, command)
          if (command.early !== undefined && passes !== undefined && passes - command.early > clock.now) clock.now = passes - command.early
          const t0 = clock.now
          // a request that will wait: the clock moves by its wait right after it is read
          const waits = branches(states, (s, choose) => {
            try {
              arrive(s, limit, a, t0, t0, choose)
              return 0
            } catch (err) {
              if (err instanceof Waits) return err.ms
              throw err
            }
          })
          const jump = Math.max(...waits.map((w) => w.out))
          const t1 = t0 + jump
          clock.jumpAfterRead(jump)
          const found = branches(states, (s, choose) => {
            const arrived = arrive(s, limit, a, t0, t1, choose)
            if (arrived.status === 'handler' && command.hold) return { status: 'held', decision: arrived.decision ?? null, result: null }
            const passed = s.passed[id] !== undefined
            const result = passed ? end(s, limit, id, a, command.ending, command.action, t1, choose) : undefined
            return { status: arrived.status === 'handler' ? command.ending.status : arrived.status, decision: arrived.decision ?? null, result: result ?? null }
          })
          const call = new Call(command)
          calls.set(id, call)
          const response = app.inject({ method: 'POST', url: '/r', remoteAddress: command.ip, headers: headersOf(id, command) })
          const first = await Promise.race([call.entered.then(() => 'entered'), response.then(() => 'answered')])
          if (first === 'entered' && command.hold) {
            held.push({ call, id, response })
            states = follow(step, found, { status: 'held', decision: call.decision, result: null })
            count(tally, 'held')
            break
          }
          const { statusCode } = await response
          await call.closed
          await turn()
          states = follow(step, found, { status: statusCode, decision: call.decision, result: call.result }, tally)
          const denied = call.decision as Decision | null
          if (statusCode === 429 && denied !== null && denied.inFlight === undefined) passes = t0 + denied.retryAfterMs
          noteRequest(tally, statusCode, call.decision, first === 'entered' ? command.action : undefined, call.result)
          break
        }
        case 'release':
          if (held.length > 0) await release(command.which % held.length, step)
          break
        case 'advance':
          clock.now += command.ms
          break
        case 'near':
          clock.now += 1000 - (clock.now + command.ms) % 1000
          break
        case 'peek': {
          const now = clock.now
          const observed = plain(await app.rateLimit.peek({ route: ROUTE, ...command.selector }))
          states = follow(step, branches(states, (s) => peek(s, limit, command.selector, now)), observed)
          break
        }
        case 'consume': {
          const now = clock.now
          const options = command.cost === undefined ? {} : { cost: command.cost }
          const observed = plain(await app.rateLimit.consume({ route: ROUTE, ...command.selector }, options))
          states = follow(step, branches(states, (s, choose) => consume(s, limit, command.selector, command.cost, now, choose)), observed)
          break
        }
        case 'reset':
          await app.rateLimit.reset(command.route ? { route: ROUTE, ...command.selector } : command.selector)
          states = follow(step, branches(states, (s) => { reset(s, limit, command.selector); return null }), null)
          break
        default:
          await app.rateLimit.clear()
          states = follow(step, branches(states, (s) => { clear(s); return null }), null)
      }
    }
    // the requests still held end now, in order
    while (held.length > 0) await release(0, `release of held request ${held[0].id} at the end, at T0+${clock.now - T0}`)
  } finally {
    for (const h of held) h.call.open()
    await app.close()
  }
}

function noteRequest (tally: Tally, status: number, decision: unknown, action: Action | undefined, result: unknown): void {
  const d = decision as { dryRun?: boolean, banned?: boolean, delayedMs?: number, inFlight?: number } | null
  count(tally, `status ${status}`)
  if (d?.dryRun === true) count(tally, 'dry-run denial')
  if (d?.banned === true) count(tally, 'banned')
  if (d?.delayedMs !== undefined) count(tally, 'waited')
  if (d?.inFlight !== undefined) count(tally, 'slots full')
  if (action !== undefined && action.do !== 'none') count(tally, `${action.do} in the handler`)
}

/** The command with its costs at most the route's smallest limit. */
function fitted (limit: Limit, command: Command): Command {
  if (command.do === 'consume' && command.cost !== undefined) return { ...command, cost: fit(limit, command.cost) }
  if (command.do !== 'request') return command
  const action = command.action.do === 'consume' ? { ...command.action, cost: fit(limit, command.action.cost) } : command.action
  return { ...command, cost: fit(limit, command.cost), action }
}

function arrival (id: number, command: Extract<Command, { do: 'request' }>): Arrival {
  return { id, ip: command.ip, user: command.user, key: command.key, cost: command.cost }
}

function headersOf (id: number, command: Extract<Command, { do: 'request' }>): Record<string, string> {
  const headers: Record<string, string> = {
    'x-id': String(id),
    'x-cost': String(command.cost),
    'x-counts': command.ending.counts ? '1' : '0',
    'x-settle': String(command.ending.settleTo)
  }
  if (command.user !== undefined) headers['x-user'] = command.user
  if (command.key !== undefined) headers['x-key'] = command.key
  return headers
}

// ---------------------------------------------------------------- the three stores

const stores: Array<[string, boolean, (t: Test) => Promise<((run: number) => FastifyLimiterOptions) | undefined>]> = [
  ['memory', false, async () => (run) => ({ keyPrefix: `m${run}` })],
  ['SQLite', true, async (t) => {
    const path = join(tempDir(t), 'model.db')
    return (run) => ({ keyPrefix: `m${run}`, sqlite: path })
  }],
  ['Redis', true, async (t) => {
    if (!redisAvailable(t)) return undefined
    const server = await startRedis(t)
    await loadScripts(t, server.port)
    return (run) => ({ keyPrefix: `m${run}`, redis: server.url })
  }]
]

/**
 * Loads every script of the Redis store, as a server that has run them holds them. On a fresh
 * server a script's first EVALSHA fails (NOSCRIPT) and is sent again as EVAL a round trip later,
 * so a settlement sent at the end of one step could run after the next step's consume: calls
 * in flight are not ordered, and the test orders its steps by when their calls are sent.
 */
async function loadScripts (t: Test, port: number): Promise<void> {
  const client = connect(t, port)
  const isScript = (value: unknown): value is RedisScript => typeof (value as RedisScript | undefined)?.lua === 'string'
  for (const value of Object.values(redisScripts)) {
    const scripts = isScript(value) ? [value] : typeof value === 'object' ? Object.values(value).filter(isScript) : []
    for (const script of scripts) await client.script('LOAD', script.lua)
  }
  client.disconnect()
}

/** What the default run must have answered at least once. */
const REACHED = ['status 200', 'status 401', 'status 429', 'status 403', 'status 500', 'banned', 'waited', 'slots full', 'dry-run denial', 'held',
  'settle in the handler', 'consume in the handler', 'peek in the handler', 'reset in the handler']

// A waiting request's timer is unref'd: with inject there is no socket to keep the process alive
const alive = setInterval(() => {}, 1000)
t.teardown(() => clearInterval(alive))

for (const [name, denialCache, optionsOf] of stores) {
  t.test(`${name}: every status and decision is the model's`, async (t) => {
    const options = await optionsOf(t)
    // redisAvailable() said why (a failure under FASTIFY_LIMITER_REQUIRE_REDIS)
    if (options === undefined) return
    t.comment(`seed ${SEED}, ${RUNS} runs (FASTIFY_LIMITER_MODEL_SEED, FASTIFY_LIMITER_MODEL_RUNS)`)
    let run = 0
    const tally: Tally = new Map()
    const started = Date.now()
    await fc.assert(fc.asyncProperty(scenarioArb, async (scenario) => await play(scenario, options(run++), denialCache, tally)), { seed: SEED, numRuns: RUNS })
    t.comment(`${run} sequences in ${Date.now() - started} ms`)
    t.comment([...tally].sort().map(([k, v]) => `${k}: ${v}`).join(', '))
    t.pass(`${RUNS} random sequences agree with the model`)
    // the default run reaches every feature (a longer one, from the same seed, runs the same first sequences)
    if (process.env.FASTIFY_LIMITER_MODEL_SEED !== undefined || RUNS < 100) return
    const reached = [...REACHED, ...(denialCache ? ['a remembered denial or the store'] : [])]
    t.same(reached.filter((what) => tally.get(what) === undefined), [], 'the default run reached every feature')
  })
}
