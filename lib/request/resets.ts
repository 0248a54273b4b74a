/** Most reset keys remembered; past that the oldest are forgotten, and charges older than them count as reset. */
const MAX_KEYS = 10_000

/**
 * The resets (`fastify.rateLimit.reset()`) and clears of one registration, so that a refund or a
 * settlement of a charge made before one gives nothing back: the bucket it was charged to is gone,
 * and taking from the new one would let a client past its limit. Each reset and clear is a new
 * generation; a charge remembers the generation it was made in.
 *
 * This holds for the resets of this process. A reset made by another app server on a shared
 * store is not seen here (docs/api.md says so).
 */
export class Resets {
  /** The current generation: one more per reset or clear. */
  generation = 0
  /** The generation of the last clear(): every charge before it was reset. */
  #cleared = 0
  /** The generation each key was last reset in, oldest first. */
  readonly #keys = new Map<string, number>()
  /** The newest generation forgotten from `#keys`: charges before it count as reset. */
  #forgotten = 0

  reset (keys: Iterable<string>): void {
    const generation = ++this.generation
    for (const key of keys) {
      this.#keys.delete(key)
      this.#keys.set(key, generation)
    }
    while (this.#keys.size > MAX_KEYS) {
      const [oldest, at] = this.#keys.entries().next().value as [string, number]
      this.#keys.delete(oldest)
      this.#forgotten = at
    }
  }

  clear (): void {
    this.#cleared = ++this.generation
    this.#keys.clear()
  }

  /** Whether one of `keys` was reset (or every key cleared) after a charge made in `generation`. */
  since (generation: number, keys: readonly { readonly key: string }[]): boolean {
    if (generation === this.generation) return false
    if (this.#cleared > generation || this.#forgotten > generation) return true
    for (const { key } of keys) {
      const at = this.#keys.get(key)
      if (at !== undefined && at > generation) return true
    }
    return false
  }
}
