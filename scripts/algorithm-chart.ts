import { fileURLToPath } from 'node:url'
import { measure, writeDocs } from './algorithm-docs.js'

// Regenerates docs/algorithms.svg, docs/algorithms-table.md and the table in docs/algorithms.md from
// the real algorithms: `npm run docs:algorithms`. Only the timing column varies by machine.
const root = fileURLToPath(new URL('..', import.meta.url))
writeDocs(root, measure())
process.stdout.write('wrote docs/algorithms.svg, docs/algorithms-table.md and the table in docs/algorithms.md\n')
