import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { kApplied } from '../core/symbols.js'
import type { CompiledLimit } from '../core/types.js'
import { Flow, HTTP } from './flow.js'
import type { Engine } from './flow.js'

export type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/**
 * The HTTP hook of a limit: `select` picks it for a request (the route's own, or, for
 * `fastify.rateLimit.hook()`, one compiled per route), and the engine decides. The same hook
 * serves onRequest, preValidation and preHandler. On the memory store, with synchronous
 * functions, a request is decided without a promise.
 */
export function createHook (select: (request: FastifyRequest) => CompiledLimit, engine: Engine): Hook {
  return function rateLimitHook (request, reply, done) {
    const limit = select(request)
    // A limit registered twice on one request (a hook added at several levels) counts once.
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      if (a.limit === limit) {
        done()
        return
      }
    }
    const flow = new Flow(engine, limit, HTTP, request.log)
    flow.request = request
    flow.reply = reply
    flow.end = goOn
    flow.done = done
    engine.run(flow)
  }
}

/** The request goes on to its handler, or fails with the flow's error. */
function goOn (flow: Flow): void {
  (flow.done as HookHandlerDoneFunction)(flow.error)
}
