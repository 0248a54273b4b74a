import type { Algorithm, AlgorithmName } from '../lib/core/algorithm.js'
import { fixedWindowAlgorithm } from './fixed-window.js'
import { slidingWindowAlgorithm } from './sliding-window.js'
import { slidingLogAlgorithm } from './sliding-log.js'
import { tokenBucketAlgorithm } from './token-bucket.js'
import { leakyBucketAlgorithm } from './leaky-bucket.js'
import { gcraAlgorithm } from './gcra.js'

export type { Algorithm, AlgorithmName, AlgorithmParams, AlgorithmResult, ChargeResult, Decision, RefundResult } from '../lib/core/algorithm.js'
export { fixedWindow, fixedWindowAlgorithm, fixedWindowCharge, fixedWindowRefund } from './fixed-window.js'
export type { FixedWindowState } from './fixed-window.js'
export { slidingWindow, slidingWindowAlgorithm, slidingWindowCharge, slidingWindowRefund } from './sliding-window.js'
export type { SlidingWindowState } from './sliding-window.js'
export { slidingLog, slidingLogAlgorithm, slidingLogCharge, slidingLogRefund } from './sliding-log.js'
export type { SlidingLogState } from './sliding-log.js'
export { tokenBucket, tokenBucketAlgorithm, tokenBucketCharge, tokenBucketRefund } from './token-bucket.js'
export type { TokenBucketState } from './token-bucket.js'
export { leakyBucket, leakyBucketAlgorithm, leakyBucketCharge, leakyBucketRefund } from './leaky-bucket.js'
export type { LeakyBucketState } from './leaky-bucket.js'
export { gcra, gcraAlgorithm, gcraCharge, gcraRefund } from './gcra.js'
export type { GcraState } from './gcra.js'
export { MAX_HELD_PRODUCT, maxDebt, maxHeld } from './debt.js'

/** Every algorithm by name: the one table the plugin, the stores and the tests read. */
export const algorithms: Readonly<Record<AlgorithmName, Algorithm<any>>> = {
  'fixed-window': fixedWindowAlgorithm,
  'sliding-window': slidingWindowAlgorithm,
  'sliding-log': slidingLogAlgorithm,
  'token-bucket': tokenBucketAlgorithm,
  'leaky-bucket': leakyBucketAlgorithm,
  gcra: gcraAlgorithm
}

/** The names accepted by the `algorithm` option, in the order the docs list them. */
export const algorithmNames: readonly AlgorithmName[] = [
  'fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'leaky-bucket', 'gcra'
]
