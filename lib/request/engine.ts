/**
 * The decision engine: it runs a flow (flow.ts) through the stages of a request in order,
 * resolve (resolve.ts), decide (decide.ts), respond (respond.ts), and on from where it waited
 * (a user function's promise, a store's answer, the delay line). The HTTP hook (hook.ts) and
 * `fastify.rateLimit.consume()` and `peek()` (lib/api.ts) all decide through it. The fourth
 * stage, settle (settle.ts), runs when the response ends.
 */
import { answered, decide, unanswered } from './decide.js'
import { DECIDING, ENDED, RESOLVING, RESPONDING, UNDECIDED } from './flow.js'
import type { Engine, Flow, Runtime } from './flow.js'
import { respond } from './respond.js'
import { resolve } from './resolve.js'

/** The engine of one registration. */
export function createEngine (runtime: Runtime): Engine {
  return { runtime, run, answered: storeAnswered, unanswered: storeFailed }
}

/** Runs the flow from the stage it is at to its end, or to its next wait. */
function run (flow: Flow): void {
  // a flow already running goes on by itself (an answer that came synchronously)
  if (flow.running || flow.stage >= RESPONDING) return
  flow.running = true
  try {
    if (flow.stage === RESOLVING) {
      if (!resolve(flow)) return
      flow.stage = DECIDING
    }
    if (flow.outcome === UNDECIDED && !decide(flow)) return
    flow.stage = RESPONDING
    respond(flow)
    flow.stage = ENDED
  } finally {
    flow.running = false
  }
}

/** A store call of the flow answered: decide takes it in, and the flow goes on. */
function storeAnswered (flow: Flow, value: unknown): void {
  answered(flow, value)
  run(flow)
}

/** A store call of the flow failed or timed out (the guard counted and logged it). */
function storeFailed (flow: Flow): void {
  unanswered(flow)
  run(flow)
}
