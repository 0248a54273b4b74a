import { answered, decide, unanswered } from './decide.js'
import { DECIDING, ENDED, RESOLVING, UNDECIDED } from './flow.js'
import type { Engine, Flow, Runtime } from './flow.js'
import { respond } from './respond.js'
import { resolve } from './resolve.js'

/**
 * The decision engine of one registration: it runs a flow through the stages in order, resolve
 * (resolve.ts), decide (decide.ts), respond (respond.ts), and on after a wait. The HTTP hook
 * (hook.ts), `fastify.rateLimit.consume()` and `peek()` (lib/api.ts) all decide through it. The
 * fourth stage, settle (settle.ts), runs when the response ends.
 */
export function createEngine (runtime: Runtime): Engine {
  const engine: Engine = {
    runtime,
    run (flow: Flow): void {
      // a flow already running here goes on by itself (an answer that came synchronously)
      if (flow.running || flow.stage === ENDED) return
      flow.running = true
      try {
        if (flow.stage === RESOLVING) {
          if (!resolve(flow)) return
          flow.stage = DECIDING
        }
        if (flow.outcome === UNDECIDED && !decide(flow)) return
        flow.stage = ENDED
        respond(flow)
      } finally {
        flow.running = false
      }
    },
    answered (flow: Flow, value: unknown): void {
      answered(flow, value)
      engine.run(flow)
    },
    unanswered (flow: Flow): void {
      unanswered(flow)
      engine.run(flow)
    }
  }
  return engine
}
