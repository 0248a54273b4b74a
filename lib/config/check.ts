import { Compile } from 'typebox/compile'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import { LimitSchema, PluginOptionsSchema, RouteLimitSchema, limitExpectations, optionExpectations, optionKeyExpectations } from './schema.js'

const routeLimit = Compile(RouteLimitSchema)
const limit = Compile(LimitSchema)
const pluginOptions = Compile(PluginOptionsSchema)

interface SchemaError { keyword: string, schemaPath: string, instancePath: string }

/**
 * The error worth showing: an unknown key if there is one, otherwise the deepest one (TypeBox
 * lists every branch of a union; the top-level branches only say "not a string, not false").
 */
function describe (
  checker: { Errors (value: unknown): Iterable<SchemaError> },
  value: unknown
): { key: string, path: string, unknown: boolean } {
  const list = [...checker.Errors(value)]
  const extra = list.find((e) => e.schemaPath.endsWith('/additionalProperties'))
  const depth = (e: SchemaError) => e.instancePath.split('/').length
  const chosen = extra ?? list.reduce((a, b) => depth(b) > depth(a) ? b : a)
  const segments = chosen.instancePath.split('/').slice(1)
  const path = segments.map((s) => /^\d+$/.test(s) ? `[${s}]` : `.${s}`).join('')
  return { key: segments[0] ?? '', path, unknown: extra !== undefined }
}

function read (value: unknown, path: string): unknown {
  let current = value
  for (const match of path.matchAll(/\.([^.[]+)|\[(\d+)\]/g)) {
    current = (current as Record<string, unknown>)[match[1] ?? match[2]]
  }
  return current
}

/**
 * Checks a route's `config.rateLimit` (or `global`, or a `hook()` limit) against its TypeBox
 * schema; throws FST_LIMITER_INVALID_ROUTE_CONFIG naming where, the option path and the value.
 * @param allowFalse whether `false` (opt out) is allowed here
 */
export function checkLimit (value: unknown, where: string, path: string, allowFalse: boolean): void {
  const checker = allowFalse ? routeLimit : limit
  if (checker.Check(value)) return
  const found = describe(checker, value)
  const at = path + found.path
  if (found.unknown) {
    // list the allowed keys only where they are the limit's own (not inside a rate object)
    const allowed = found.path.includes('.', 1) ? 'limit, windowMs' : Object.keys(limitExpectations).filter(Boolean).join(', ')
    throw new errors.INVALID_ROUTE_CONFIG(where, at, `unknown option (allowed: ${allowed})`)
  }
  const expected = limitExpectations[found.key]
  throw new errors.INVALID_ROUTE_CONFIG(where, at, `expected ${expected}, received ${formatValue(read(value, found.path))}`)
}

/** Checks the plugin options object; throws FST_LIMITER_INVALID_OPTION naming the option. */
export function checkPluginOptions (value: unknown): void {
  if (pluginOptions.Check(value)) return
  const found = describe(pluginOptions, value)
  if (found.key === 'global') {
    // a bad global limit is reported like a route config, with its path
    checkLimit((value as Record<string, unknown>).global, 'fastify-limiter option', 'global', false)
  }
  const at = `fastify-limiter option ${found.path.slice(1)}`
  if (found.unknown) {
    const allowed = found.path.includes('.', 1) ? optionKeyExpectations[found.key] ?? optionExpectations[found.key] : Object.keys(optionExpectations).join(', ')
    throw new errors.INVALID_OPTION(at, `a known option (${allowed})`, 'an unknown option')
  }
  const expected = optionExpectations[found.key]
  throw new errors.INVALID_OPTION(at, expected, formatValue(read(value, found.path)))
}
