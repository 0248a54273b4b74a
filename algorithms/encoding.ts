import type { Algorithm } from '../lib/core/algorithm.js'

/**
 * The one text form of a state in the shared stores: a SQLite row's `state`, and a Redis
 * value after its expiry (the Lua twins read and write the same integers, in the same order).
 *
 * It is the integers of `algorithm.fields` in order, then, for a state of variable length,
 * one tuple of `algorithm.entries` per entry, in decimal and joined by commas: a token bucket
 * `{ n: 4, f: 250, t: 1767225600000 }` is `4,250,1767225600000`. Every state integer is below
 * 2^53, which JavaScript's `String` and Lua's `%.0f` both write whole, never rounded nor as an
 * exponent, so the two sides write the same text.
 */

type Fields = Record<string, number | number[]>

/** Writes `state` (as `algorithm.consume` returned it) in its text form. */
export function encodeState (algorithm: Algorithm<any>, state: object): string {
  const s = state as Fields
  const { fields, entries } = algorithm
  let text = String(s[fields[0]])
  for (let i = 1; i < fields.length; i++) text += ',' + String(s[fields[i]])
  if (entries !== undefined) {
    const length = (s[entries[0]] as number[]).length
    for (let i = 0; i < length; i++) {
      for (const name of entries) text += ',' + String((s[name] as number[])[i])
    }
  }
  return text
}

const INTEGER = /^-?\d{1,16}$/

/**
 * Reads a state written by `encodeState` (or by a Lua twin). Throws on text that is not one:
 * a part that is not a safe integer, or a number of parts the state cannot have.
 */
export function decodeState<S> (algorithm: Algorithm<S>, text: string): S {
  const { fields, entries = [] } = algorithm
  const parts = text.split(',')
  const extra = parts.length - fields.length
  if (extra < 0 || (entries.length === 0 ? extra !== 0 : extra % entries.length !== 0)) throw damaged(algorithm, text)
  const numbers = parts.map((part) => {
    const n = Number(part)
    if (!INTEGER.test(part) || !Number.isSafeInteger(n)) throw damaged(algorithm, text)
    return n
  })
  const state: Fields = {}
  for (let i = 0; i < fields.length; i++) state[fields[i]] = numbers[i]
  const tuples = entries.length === 0 ? 0 : extra / entries.length
  entries.forEach((name, k) => {
    const list: number[] = new Array(tuples)
    for (let i = 0; i < tuples; i++) list[i] = numbers[fields.length + i * entries.length + k]
    state[name] = list
  })
  return state as S
}

/**
 * Reads a stored state, or returns undefined when `text` is not one (damaged: written by
 * something other than this package). The shared stores read a damaged state as an empty
 * bucket rather than fail every request of that key.
 */
export function readState<S> (algorithm: Algorithm<S>, text: string): S | undefined {
  try {
    return decodeState(algorithm, text)
  } catch {
    return undefined
  }
}

function damaged (algorithm: Algorithm<any>, text: string): Error {
  return new Error(`${algorithm.name}: not a stored state: ${JSON.stringify(text.slice(0, 100))}`)
}
