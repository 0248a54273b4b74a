import { MemoryStore } from '../../stores/memory.js'
import type { ResolvedOptions } from '../core/types.js'
import { Reporter } from '../observe/report.js'
import { DenialCache } from './denials.js'
import { StoreGuard } from './guard.js'
import { CredentialsWarning } from './warnings.js'

/** Most blocked buckets remembered per app server (LRU past that). */
const DENIAL_CACHE_SIZE = 10_000

/**
 * What one registration of the plugin decides requests with: its resolved options, where it
 * reports outcomes, the guard around its store, and the denials it remembers.
 */
export interface Runtime {
  readonly options: ResolvedOptions
  readonly report: Reporter
  readonly guard: StoreGuard
  /** Remembered denials; undefined for the memory store, which is as fast as the cache. */
  readonly denials: DenialCache | undefined
  /** The credentials-without-a-user warning, logged once per route. */
  readonly warnings: CredentialsWarning
  /** Run on Fastify close (before the store closes): each hook's waiting requests are decided. */
  readonly closing: Array<() => void>
}

export function createRuntime (options: ResolvedOptions): Runtime {
  return {
    options,
    report: new Reporter(options.log),
    guard: new StoreGuard(options.storeTimeoutMs, options.clock),
    denials: options.store instanceof MemoryStore ? undefined : new DenialCache(DENIAL_CACHE_SIZE),
    warnings: new CredentialsWarning(options.hook),
    closing: []
  }
}
