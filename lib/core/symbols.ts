import type { Applied } from './types.js'

/**
 * Request decoration holding the last `Applied` of a request: written by the hook when it
 * decides, read by the headers writer, the reporter and `reset(request)`.
 */
export const kApplied = Symbol('fastify-limiter.applied')

/**
 * Instance property holding the registration that limits the routes of a Fastify context: set on
 * the instance the plugin is registered in, and found by every child context through the
 * prototype chain, so a route uses its nearest registration.
 */
export const kRegistration = Symbol('fastify-limiter.registration')

declare module 'fastify' {
  interface FastifyRequest {
    [kApplied]: Applied | null
  }
}
