import type { CompiledLimit } from '../core/types.js'

/** How the not-found handler's requests are named in logs, metrics and `reset({ route })`. */
export const NOT_FOUND = '(not found)'

/**
 * The key namespace of groups, so that a group named like a route (`'GET /a'`) or like the
 * global limit (`'*'`) never shares their buckets. Routes and `global` have the empty namespace:
 * an encoded route id always holds `%20` and the global id is `*`, which no group reaches once
 * prefixed. `hook()` limits number theirs (`hook1=`, ...).
 */
export const GROUP = 'group='

/** `'GET /items'`, `'GET,POST /items'`: how errors and the 429 context name a route. */
export function routeLabel (method: string | readonly string[], url: string): string {
  return `${Array.isArray(method) ? method.join(',') : method} ${url}`
}

/**
 * The bucket namespace of a route: its methods and URL, with HEAD counted as GET (Fastify
 * adds a HEAD route for every GET route; both run the same handler, so they share buckets).
 */
export function routeId (method: string | readonly string[], url: string): string {
  const methods = (Array.isArray(method) ? method : [method as string]).map((m) => m === 'HEAD' ? 'GET' : m)
  return `${[...new Set(methods)].sort().join(',')} ${url}`
}

/** Every compiled limit, findable by route label, route id, URL and group, for `reset()`. */
export class RouteRegistry {
  readonly #byName = new Map<string, Set<CompiledLimit>>()
  readonly all = new Set<CompiledLimit>()

  /** Registers a limit under each of its names (a missing one, such as no group, is skipped). */
  add (limit: CompiledLimit, names: ReadonlyArray<string | undefined>): void {
    this.all.add(limit)
    for (const name of names) {
      if (name === undefined) continue
      let set = this.#byName.get(name)
      if (set === undefined) this.#byName.set(name, set = new Set())
      set.add(limit)
    }
  }

  find (name: string): CompiledLimit[] {
    return [...this.#byName.get(name) ?? []]
  }
}
