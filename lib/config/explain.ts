import Value from 'typebox/value'
import { formatValue } from '../core/format.js'

/**
 * What is wrong with a value its TypeBox schema refused, said the way a person would: the one
 * deepest place that is wrong and what that place expects. TypeBox's own error list is not used:
 * it is cut at a few errors (`maxErrors`, 8 by default) and lists every branch of a union, so the
 * place that matters may be missing from it, or lost among the parent's whole shape.
 */

/** A JSON schema node as TypeBox builds them (plain objects). */
type Schema = Readonly<Record<string, any>>

/** Where a value is wrong, relative to the value checked (`.ban.for`, `.ip[1]`, or `''`), and how. */
export interface Mismatch {
  readonly path: string
  readonly expected: string
  readonly received: string
}

/** The deepest mismatch of `value` against `schema`, which must have refused it. */
export function explain (schema: Schema, value: unknown): Mismatch {
  return walk(schema, value, '')
}

function walk (schema: Schema, value: unknown, path: string): Mismatch {
  if (schema.anyOf !== undefined) {
    // descend into the one branch a value of this kind can be, when it has parts of its own;
    // otherwise the union itself is what was expected ('draft7' is none of its strings)
    const fitting = branches(schema).filter((branch) => kindOf(branch) === kindOfValue(value))
    if (fitting.length === 1 && (kindOf(fitting[0]) === 'object' || kindOf(fitting[0]) === 'array')) {
      return walk(fitting[0], value, path)
    }
    return mismatch(schema, value, path)
  }
  if (schema.type === 'object' && kindOfValue(value) === 'object') return walkObject(schema, value as Record<string, unknown>, path)
  if (schema.type === 'array' && Array.isArray(value)) {
    const index = value.findIndex((item) => !Value.Check(schema.items, item))
    if (index !== -1) return walk(schema.items, value[index], `${path}[${index}]`)
  }
  return mismatch(schema, value, path)
}

/** An object: an unknown key first (usually a typo), then a missing one, then the first wrong one. */
function walkObject (schema: Schema, value: Record<string, unknown>, path: string): Mismatch {
  // TypeBox gives every object schema its `properties`, `{}` at least
  const properties: Record<string, Schema> = schema.properties
  const keys = Object.keys(properties)
  if (schema.additionalProperties === false) {
    const unknown = Object.keys(value).find((key) => !Object.hasOwn(properties, key))
    if (unknown !== undefined) return { path: `${path}.${unknown}`, expected: `a known option (${keys.join(', ')})`, received: 'an unknown option' }
  }
  const missing = (schema.required as string[] | undefined ?? []).find((key) => !Object.hasOwn(value, key))
  if (missing !== undefined) {
    return { path: `${path}.${missing}`, expected: expectation(properties[missing]), received: `nothing (\`${missing}\` is missing)` }
  }
  if (typeof schema.minProperties === 'number' && Object.keys(value).length < schema.minProperties) {
    return { path, expected: `at least one of ${keys.join(', ')}`, received: formatValue(value) }
  }
  for (const key of keys) {
    // an optional key given as undefined counts as absent, as TypeBox counts it
    if (value[key] === undefined && !(schema.required as string[] | undefined ?? []).includes(key)) continue
    if (!Value.Check(properties[key], value[key])) return walk(properties[key], value[key], `${path}.${key}`)
  }
  return mismatch(schema, value, path)
}

function mismatch (schema: Schema, value: unknown, path: string): Mismatch {
  return { path, expected: expectation(schema), received: formatValue(value) }
}

/** A union's leaf branches, nested unions flattened. */
function branches (schema: Schema): Schema[] {
  return schema.anyOf === undefined ? [schema] : (schema.anyOf as Schema[]).flatMap(branches)
}

/** The kind of value a (non-union) schema takes: a JSON type, or 'function'. */
function kindOf (schema: Schema): string {
  if (schema.const !== undefined) return typeof schema.const
  return schema.type === 'integer' ? 'number' : String(schema.type)
}

function kindOfValue (value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'array' : typeof value
}

/**
 * What a schema node expects, in words: its `description` where it has one (schema.ts gives one
 * wherever the words cannot be derived), else derived from the node.
 */
export function expectation (schema: Schema): string {
  if (typeof schema.description === 'string') return schema.description
  if (schema.anyOf !== undefined) return either((schema.anyOf as Schema[]).map(expectation))
  if (schema.const !== undefined) return typeof schema.const === 'string' ? `'${schema.const}'` : String(schema.const)
  switch (schema.type) {
    case 'integer': return range('an integer', schema)
    case 'number': return range('a number', schema)
    case 'boolean': return 'true or false'
    case 'string': return schema.minLength === 1 ? 'a non-empty string' : 'a string'
    case 'object': return `{ ${Object.keys(schema.properties).join(', ')} }`
    case 'array': return `an array of: ${expectation(schema.items)}`
  }
  return 'a function'
}

function range (noun: string, { minimum, maximum }: Schema): string {
  if (minimum === undefined) return noun
  if (maximum !== undefined) return `${noun} from ${minimum as number} to ${maximum as number}`
  return minimum === 1 && noun === 'an integer' ? 'a positive integer' : `${noun} of at least ${minimum as number}`
}

/** `'a'`, `'a or b'`, `'a, b or c'`; literals first collected as `one of 'x', 'y'`. */
function either (words: string[]): string {
  const literals = words.filter((w) => w.startsWith("'") || w === 'false' || w === 'true')
  const others = words.filter((w) => !literals.includes(w))
  const parts = literals.length > 1 ? [`one of ${literals.join(', ')}`, ...others] : words
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
}
