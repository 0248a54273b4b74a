import { errors } from '../core/errors.js'
import type { BucketKind, MetricsInput, MetricsRegistry } from '../core/types.js'
import type { BucketCounters, Reporter } from './report.js'

interface CounterLike {
  reset (): void
  inc (labels: Record<string, string>, value: number): void
}

/** The slice of prom-client's module the plugin uses. */
export interface PromClient {
  register: MetricsRegistry
  Counter: new (config: {
    name: string
    help: string
    labelNames: string[]
    registers: MetricsRegistry[]
    collect: (this: CounterLike) => void
  }) => CounterLike
}

const outcomes: Array<[keyof BucketCounters, string]> = [['allowed', 'allowed'], ['denied', 'denied'], ['dryRunDenied', 'dry_run_denied']]

/**
 * Exposes the Reporter's counters as prom-client counters. The request path never touches
 * prom-client: each metric's `collect()` copies the counters when the registry is scraped.
 * prom-client is loaded here, lazily, only when `metrics` is set. Returns a function that
 * removes the metrics from the registry (called on Fastify close, so an app can be built again).
 */
export async function setupMetrics (
  input: MetricsInput,
  reporter: Reporter,
  load: () => Promise<unknown> = () => import('prom-client')
): Promise<(() => void) | undefined> {
  if (input === false) return undefined
  let client: PromClient
  try {
    const loaded = await load() as PromClient & { default?: PromClient }
    client = loaded.default ?? loaded
  } catch (err) {
    throw new errors.METRICS_UNAVAILABLE(err instanceof Error ? err.message : String(err), { cause: err })
  }
  const { registry = client.register, prefix = 'fastify_limiter_' } = input === true ? {} : input
  const names = {
    decisions: `${prefix}decisions_total`,
    nearLimit: `${prefix}near_limit_total`,
    storeErrors: `${prefix}store_errors_total`,
    degraded: `${prefix}degraded_total`,
    delayed: `${prefix}delayed_total`,
    delayAborted: `${prefix}delay_aborted_total`,
    concurrencyDenied: `${prefix}concurrency_denied_total`,
    banned: `${prefix}banned_total`,
    bans: `${prefix}bans_total`
  }
  for (const name of Object.values(names)) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new errors.INVALID_OPTION('fastify-limiter option metrics', `a registry without a metric named ${name} (another fastify-limiter instance? give each its own prefix or registry)`, `a registry that has ${name}`)
    }
  }
  const each = (visit: (route: string, bucket: BucketKind, counters: BucketCounters) => void) => {
    for (const [route, counters] of Object.entries(reporter.snapshot().routes)) {
      for (const [bucket, c] of Object.entries(counters.buckets)) visit(route, bucket as BucketKind, c)
    }
  }
  new client.Counter({ // eslint-disable-line no-new
    name: names.decisions,
    help: 'Requests decided by the rate limiter, by route, bucket kind (ip, user, key) and outcome (allowed, denied, dry_run_denied).',
    labelNames: ['route', 'bucket', 'outcome'],
    registers: [registry],
    collect () {
      this.reset()
      each((route, bucket, c) => {
        for (const [field, outcome] of outcomes) this.inc({ route, bucket, outcome }, c[field])
      })
    }
  })
  new client.Counter({ // eslint-disable-line no-new
    name: names.nearLimit,
    help: 'Requests allowed with less than 20% of the limit remaining, by route and bucket kind.',
    labelNames: ['route', 'bucket'],
    registers: [registry],
    collect () {
      this.reset()
      each((route, bucket, c) => this.inc({ route, bucket }, c.nearLimit))
    }
  })
  const perRoute = (name: string, help: string, field: 'storeErrors' | 'degraded' | 'delayed' | 'delayAborted' | 'concurrencyDenied' | 'banned' | 'bans') => new client.Counter({
    name,
    help,
    labelNames: ['route'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [route, counters] of Object.entries(reporter.snapshot().routes)) {
        const value = counters[field]
        if (value !== undefined) this.inc({ route }, value)
      }
    }
  })
  perRoute(names.storeErrors, 'Store calls that failed or timed out, by route.', 'storeErrors')
  perRoute(names.degraded, 'Requests decided without the store (onStoreError: fallback, allow or deny), by route.', 'degraded')
  perRoute(names.delayed, 'Requests that waited instead of a 429 (delay) and then passed, by route.', 'delayed')
  perRoute(names.delayAborted, 'Requests dropped while waiting (delay) because the client went away, by route.', 'delayAborted')
  perRoute(names.concurrencyDenied, 'Requests refused (429) because their identity had its concurrency limit of requests in flight, by route.', 'concurrencyDenied')
  perRoute(names.banned, 'Requests answered as banned (the ban option: its statusCode, 403 by default), by route.', 'banned')
  perRoute(names.bans, 'Bans started (the ban option), by route.', 'bans')
  return () => {
    for (const name of Object.values(names)) registry.removeSingleMetric(name)
  }
}
