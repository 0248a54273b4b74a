import type { FastifyBaseLogger } from 'fastify'
import { MemoryStore } from '../../stores/memory.js'
import type { ResolvedOptions } from '../core/types.js'
import { Reporter } from '../observe/report.js'
import { DelayQueue } from './delay.js'
import { DenialCache } from './denials.js'
import type { Runtime } from './flow.js'
import { StoreGuard } from './guard.js'
import { Resets } from './resets.js'
import { CredentialsWarning } from './warnings.js'

export type { Runtime }

/** Most blocked buckets remembered per app server (LRU past that). */
const DENIAL_CACHE_SIZE = 10_000

/** What one registration of the plugin decides requests with. */
export function createRuntime (options: ResolvedOptions, log: FastifyBaseLogger): Runtime {
  const report = new Reporter(options.log)
  return {
    options,
    report,
    guard: new StoreGuard(options, report),
    denials: options.store instanceof MemoryStore ? undefined : new DenialCache(DENIAL_CACHE_SIZE),
    warnings: new CredentialsWarning(options.hook),
    delays: new DelayQueue(options.clock, report),
    resets: new Resets(),
    log
  }
}
