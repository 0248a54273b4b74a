import { errors } from './errors.js'

/** A value as error messages show it: strings quoted and cut short, functions named. */
export function formatValue (value: unknown): string {
  if (typeof value === 'string') {
    const text = value.length > 80 ? `${value.slice(0, 80)}…` : value
    return `'${text}'`
  }
  if (typeof value === 'function') return 'a function'
  // a promise would print as {}: say what it is (a resolver that should have been awaited)
  if (value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function') {
    return value instanceof Promise ? 'a Promise' : 'a thenable'
  }
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value)
  if (value === undefined) return 'undefined'
  if (typeof value === 'number') return String(value)
  try {
    const json = JSON.stringify(value)
    return json.length > 80 ? `${json.slice(0, 80)}…` : json
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Checks an integer option at construction time; never coerces. */
export function checkInteger (path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`
    throw new errors.INVALID_OPTION(path, range, formatValue(value))
  }
  return value
}
