import type { DecisionSink, StoreDecision } from '../../lib/core/store.js'
import { catching } from './helpers.js'

/**
 * The cases of a store's promise-free way (`consumeTo`) that every batching store shares: the
 * requests of one turn, each with its own sink, the first of which throws once it has its answer
 * (it runs its request on). `ask` makes one request's call. The others must still get their
 * answers, and the error is thrown on its own, after.
 */

/** `count` requests decided in one batch: their decisions, in order, and the errors thrown. */
export async function decidedWhileOneThrows (count: number, ask: (sink: DecisionSink) => void): Promise<{ decisions: Array<StoreDecision | undefined>, caught: unknown[], thrown: Error }> {
  const decisions: Array<StoreDecision | undefined> = new Array(count).fill(undefined)
  const thrown = new Error('a sink that throws')
  const caught = await catching(async () => {
    await Promise.all(decisions.map(async (_, i) => await new Promise<void>((resolve, reject) => {
      ask({
        decided (d) {
          decisions[i] = d
          resolve()
          if (i === 0) throw thrown
        },
        failed: reject
      })
    })))
  })
  return { decisions, caught, thrown }
}

/** Two requests of a batch that fails: the failures each sink heard, and the errors thrown. */
export async function failedWhileOneThrows (ask: (sink: DecisionSink) => void): Promise<{ failures: unknown[], caught: unknown[] }> {
  const failures: unknown[] = []
  const caught = await catching(async () => {
    await Promise.all([0, 1].map(async (i) => await new Promise<void>((resolve, reject) => {
      ask({
        decided: () => reject(new Error('decided')),
        failed (err) {
          failures.push(err)
          resolve()
          if (i === 0) throw new Error('a failing sink that throws')
        }
      })
    })))
  })
  return { failures, caught }
}
