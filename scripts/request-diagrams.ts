import { fileURLToPath } from 'node:url'
import { writeDiagrams } from './diagrams/index.js'

// Redraws docs/request-flow.svg and docs/breaker.svg from the code: `npm run docs:diagrams`.
// What is read from where: scripts/diagrams/facts.ts. A change the pictures do not know of
// (a new step, phase, outcome, hook, option or breaker transition) stops here with what to update.
const root = fileURLToPath(new URL('..', import.meta.url))
process.stdout.write(`wrote ${writeDiagrams(root).join(' and ')}\n`)
