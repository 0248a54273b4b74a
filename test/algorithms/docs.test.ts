import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { algorithmNames } from '../../algorithms/index.js'
import {
  measure, mostInAnyWindow, renderSvg, renderTable, replaceTable, runAll, tableEnd, tableStart, writeDocs
} from '../../scripts/algorithm-docs.js'

// The docs cannot rot: what is committed in docs/ is what the current algorithms
// produce (`npm run docs:algorithms`), but for the timing column, which varies by machine.

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(join(root, path), 'utf8')
const runs = runAll()
const anyTiming = Object.fromEntries(algorithmNames.map((name) => [name, 0])) as Parameters<typeof renderTable>[1]

/** The table's rows without their last cell, the measured ns per decision. */
function withoutTiming (table: string): string[] {
  return table.trim().split('\n').map((row) => row.replace(/[^|]*\|\s*$/, ''))
}

function readmeTable (): string {
  const readme = read('docs/algorithms.md')
  return readme.slice(readme.indexOf(tableStart) + tableStart.length, readme.indexOf(tableEnd))
}

t.test('the table in docs/algorithms.md is the generated one', async (t) => {
  t.ok(read('docs/algorithms.md').includes(tableStart), 'docs/algorithms.md has the table markers')
  t.same(withoutTiming(readmeTable()), withoutTiming(renderTable(runs, anyTiming)))
})

t.test('docs/algorithms-table.md is the same table', async (t) => {
  t.same(withoutTiming(read('docs/algorithms-table.md')), withoutTiming(renderTable(runs, anyTiming)))
  t.equal(read('docs/algorithms-table.md').trim(), readmeTable().trim(), 'with the same timings as docs/algorithms.md')
})

t.test('docs/algorithms.svg is the generated chart', async (t) => {
  t.equal(read('docs/algorithms.svg'), renderSvg(runs))
})

t.test('what the guide says about the burst is what the algorithms do', async (t) => {
  const most = Object.fromEntries(runs.map((run) => [run.name, mostInAnyWindow(run.allowed.burst)]))
  // 10 per second: a fixed window lets twice that through across its seam, the sliding log never
  t.equal(most['fixed-window'], 20)
  t.equal(most['sliding-log'], 10)
  t.ok(most['sliding-window'] > 10 && most['sliding-window'] < 20, 'the sliding window is in between')
  // the three buckets allow the very same requests
  const buckets = runs.filter((run) => ['token-bucket', 'leaky-bucket', 'gcra'].includes(run.name))
  t.equal(new Set(buckets.map((run) => JSON.stringify(run.allowed))).size, 1)
})

t.test('the generator writes between the markers and nowhere else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-docs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'docs'))
  const before = '# Title\n\ntext before\n'
  const after = '\ntext after\n'
  writeFileSync(join(dir, 'docs', 'algorithms.md'), `${before}${tableStart}\nold table\n${tableEnd}${after}`)
  const ns = measure(20, 1)
  t.same(Object.keys(ns), algorithmNames)
  for (const name of algorithmNames) t.ok(Number.isFinite(ns[name]) && ns[name] >= 0, name)
  writeDocs(dir, ns)
  const table = renderTable(runs, ns)
  t.equal(readFileSync(join(dir, 'docs', 'algorithms.md'), 'utf8'), `${before}${tableStart}\n${table}\n${tableEnd}${after}`)
  t.equal(readFileSync(join(dir, 'docs', 'algorithms-table.md'), 'utf8'), table + '\n')
  t.equal(readFileSync(join(dir, 'docs', 'algorithms.svg'), 'utf8'), renderSvg(runs))
})

t.test('without the markers it refuses, rather than guess where the table goes', async (t) => {
  t.throws(() => replaceTable('# README\n', 'table'), /needs <!-- algorithms-table:start -->/)
  t.throws(() => replaceTable(`${tableEnd}\n${tableStart}\n`, 'table'), /in that order/)
})
