import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderBreaker } from './breaker.js'
import { breakerFacts, requestFacts } from './facts.js'
import { renderRequestFlow } from './request-flow.js'

/**
 * The two pictures of the request path, drawn from the code (see facts.ts for what is read and
 * how): `docs/request-flow.svg` and `docs/breaker.svg`. scripts/request-diagrams.ts writes them;
 * test/plugin/diagrams.test.ts checks that what is committed is what the code draws now.
 */

/** The pictures, by their path under the repository root. */
export function drawDiagrams (root: string): Record<string, string> {
  return {
    'docs/request-flow.svg': renderRequestFlow(requestFacts(root)),
    'docs/breaker.svg': renderBreaker(breakerFacts(root))
  }
}

/** Draws the pictures from the code under `root` and writes them there; returns their paths. */
export function writeDiagrams (root: string): string[] {
  const drawn = drawDiagrams(root)
  for (const [path, svg] of Object.entries(drawn)) writeFileSync(join(root, path), svg)
  return Object.keys(drawn)
}
