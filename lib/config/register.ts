import type { CompiledLimit } from '../core/types.js'
import { checkLimit } from './check.js'
import { compileLimit } from './compile.js'
import type { LimitDeclaration } from './compile.js'
import type { RouteRegistry } from './routes.js'
import type { PluginSettings } from './options.js'

/** A limit to register: its declaration and the names `reset()` finds it by. */
export interface LimitRegistration extends LimitDeclaration {
  /**
   * Route labels, ids, URLs and group names; a missing one (no group) is skipped. With none at all
   * the limit is only checked and compiled (`hook()` without a group compiles once per route later).
   */
  readonly names: ReadonlyArray<string | undefined>
}

/**
 * The one path every limit takes, whether a route declares it, the plugin's `global` option
 * or `fastify.rateLimit.hook()`: checked against the schema (a coded error naming the
 * declaration), compiled once, and recorded in the registry for `reset()`.
 */
export function registerLimit (
  settings: PluginSettings,
  registry: RouteRegistry,
  registration: LimitRegistration
): CompiledLimit {
  checkLimit(registration.limit, registration.where, registration.path, false)
  const compiled = compileLimit(registration, settings)
  if (registration.names.some((name) => name !== undefined)) registry.add(compiled, registration.names)
  return compiled
}
