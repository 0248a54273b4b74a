import type { FastifyRequest } from 'fastify'
import type { CompiledLimit, HookName, ResolvedBucket } from '../core/types.js'

/**
 * The warning's message for a limiter running in `hook`. Its log object names the limit
 * (`rateLimit.route`: the route, its group, `'global'`), the hook, and the route served.
 */
export function credentialsWarning (hook: HookName): string {
  const advice = hook === 'preHandler'
    ? 'authentication must set the user before the preHandler hook the limiter runs in'
    : "if authentication runs later, register the plugin with hook: 'preHandler'"
  return `fastify-limiter: requests to this route carry credentials (an Authorization header or a cookie) but the user resolver found no user in the ${hook} hook, so they are not limited per user; ${advice}`
}

/**
 * The one warning the limiter logs about a setup that silently does something else than
 * intended: a route with a `user` limit whose requests carry credentials while the `user`
 * resolver finds no user. Usually authentication runs in a later hook than the limiter, and
 * every signed-in user ends up in its IP's bucket. Logged at `warn`, once per route and limit.
 */
export class CredentialsWarning {
  readonly #hook: HookName
  readonly #message: string
  /** The routes warned about, per limit (a `global` limit serves many routes). */
  readonly #warned = new WeakMap<CompiledLimit, Set<string>>()

  constructor (hook: HookName) {
    this.#hook = hook
    this.#message = credentialsWarning(hook)
  }

  /** Called with the buckets a request resolved to under `limit`; cheap unless it warns. */
  check (request: FastifyRequest, limit: CompiledLimit, resolved: readonly ResolvedBucket[]): void {
    if (limit.user === undefined) return
    for (let i = 0; i < resolved.length; i++) {
      const kind = resolved[i].kind.kind
      // with apply 'first', a resolved key means the user resolver was not asked
      if (kind === 'user' || (kind === 'key' && limit.apply === 'first')) return
    }
    const { headers } = request
    if (headers.authorization === undefined && headers.cookie === undefined) return
    const route = `${request.method} ${request.routeOptions.url ?? '(not found)'}`
    let warned = this.#warned.get(limit)
    if (warned === undefined) {
      warned = new Set()
      this.#warned.set(limit, warned)
    }
    if (warned.has(route)) return
    warned.add(route)
    request.log.warn({ rateLimit: { route: limit.route, hook: this.#hook, served: route } }, this.#message)
  }
}
