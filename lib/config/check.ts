import { Compile } from 'typebox/compile'
import { errors } from '../core/errors.js'
import { explain } from './explain.js'
import { LimitSchema, PluginOptionsSchema, RouteLimitSchema } from './schema.js'

const routeLimit = Compile(RouteLimitSchema)
const limit = Compile(LimitSchema)
const pluginOptions = Compile(PluginOptionsSchema)

/** Who declares the plugin's own options (`global` among them), as errors name it. */
export const PLUGIN_OPTION = 'fastify-limiter option'

/** Makes the error of a bad value: the option's path, what it takes, what it got. */
export type Fail = (path: string, expected: string, received: string) => Error

/**
 * How a declaration's bad values are thrown: FST_LIMITER_INVALID_OPTION for the plugin's own
 * options (`global` too, declared by PLUGIN_OPTION), FST_LIMITER_INVALID_ROUTE_CONFIG for a
 * route's `config.rateLimit` and a `hook()` limit.
 */
export function failFor (where: string): Fail {
  return where === PLUGIN_OPTION
    ? (path, expected, received) => new errors.INVALID_OPTION(`${where} ${path}`, expected, received)
    : (path, expected, received) => new errors.INVALID_ROUTE_CONFIG(where, path, `expected ${expected}, received ${received}`)
}

/**
 * Checks a route's `config.rateLimit` (or `global`, or a `hook()` limit) against its TypeBox
 * schema; throws (failFor) naming where, the deepest wrong option path, what it expected there and
 * the value received.
 * @param allowFalse whether `false` (opt out) is allowed here
 */
export function checkLimit (value: unknown, where: string, path: string, allowFalse: boolean): void {
  if ((allowFalse ? routeLimit : limit).Check(value)) return
  const found = explain(allowFalse ? RouteLimitSchema : LimitSchema, value)
  throw failFor(where)(path + found.path, found.expected, found.received)
}

/** Checks the plugin options object; throws FST_LIMITER_INVALID_OPTION naming the deepest wrong option. */
export function checkPluginOptions (value: unknown): void {
  if (pluginOptions.Check(value)) return
  const found = explain(PluginOptionsSchema, value)
  throw failFor(PLUGIN_OPTION)(found.path.slice(1), found.expected, found.received)
}
