import type { Applied } from './types.js'

/**
 * Request decoration holding the last `Applied` of a request: written by the hook when it
 * decides, read by the headers writer, the reporter and `reset(request)`.
 */
export const kApplied = Symbol('fastify-limiter.applied')

declare module 'fastify' {
  interface FastifyRequest {
    [kApplied]: Applied | null
  }
}
