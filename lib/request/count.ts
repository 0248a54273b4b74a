import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Charge } from '../core/types.js'
import { isThenable } from './bucket.js'
import type { Runtime } from './runtime.js'

/** Distinct refund failures logged per registration before the list starts over. */
const MAX_LOGGED = 100

/** The refund failures already logged, per registration: each cause is logged once. */
const logged = new WeakMap<Runtime, Set<string>>()

/**
 * Settles a charge of a limit with a `count` other than `'all'` once the response is finished
 * (the raw response's `'finish'`, which is when Fastify runs `onResponse`): a request whose
 * response should not count gets its cost back with `store.refund()`. Denied requests were
 * never charged. Never throws and never delays anything: the response is already sent.
 *
 * A listener on the request's own response rather than a plugin-wide `onResponse` hook: only
 * the requests of such limits pay for it (an `onResponse` hook on every route cost every
 * request about 1 µs, BENCHMARKS.md), and it works for `hook()` limits, whose routes the plugin
 * cannot add hooks to.
 */
export function settleOnResponse (request: FastifyRequest, reply: FastifyReply, charge: Charge, runtime: Runtime): void {
  reply.raw.once('finish', () => settle(request, reply, charge, runtime))
}

function settle (request: FastifyRequest, reply: FastifyReply, charge: Charge, runtime: Runtime): void {
  const { count } = charge.limit
  if (count === 'failed') {
    if (reply.statusCode < 400) refund(request, charge, runtime)
  } else if (count === 'successful') {
    if (reply.statusCode >= 400) refund(request, charge, runtime)
  } else if (typeof count === 'function') {
    let counts: unknown
    try {
      counts = count(request, reply)
    } catch (err) {
      // the request stays counted: a broken count function must not give requests away
      fail(request, runtime, err, 'the count function threw')
      return
    }
    if (isThenable(counts)) {
      counts.then((value) => {
        if (value === false) refund(request, charge, runtime)
      }, (err: unknown) => fail(request, runtime, err, 'the count function threw'))
    } else if (counts === false) {
      refund(request, charge, runtime)
    }
  }
}

function refund (request: FastifyRequest, charge: Charge, runtime: Runtime): void {
  const { clock } = runtime.options
  let result: unknown
  try {
    // refunded at the time it happens, on the plugin's clock when it has one
    result = (charge.store.refund as NonNullable<Charge['store']['refund']>)(charge.buckets, charge.cost, clock === undefined ? undefined : clock())
  } catch (err) {
    fail(request, runtime, err, 'a refund failed')
    return
  }
  if (isThenable(result)) {
    runtime.guard.watch(result, noop, (err) => fail(request, runtime, err, 'a refund failed'))
  }
}

function noop (): void {}

/** Logs a failure once per cause and registration; the request stays counted. */
function fail (request: FastifyRequest, runtime: Runtime, err: unknown, what: string): void {
  let seen = logged.get(runtime)
  if (seen === undefined) logged.set(runtime, seen = new Set())
  const cause = `${what}: ${err instanceof Error ? err.message : String(err)}`
  if (seen.has(cause)) return
  if (seen.size >= MAX_LOGGED) seen.clear()
  seen.add(cause)
  request.log.warn({ err }, `fastify-limiter: ${what}; the request stays counted (logged once per cause)`)
}
