import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { algorithmNames, algorithms } from '../algorithms/index.js'
import type { AlgorithmName, AlgorithmParams } from '../algorithms/index.js'

/**
 * The algorithm comparison in the docs, computed from the real algorithms: `docs/algorithms.svg`,
 * `docs/algorithms-table.md` and the table in docs/algorithms.md. `scripts/algorithm-chart.ts` runs it;
 * `test/algorithms/docs.test.ts` checks that what is committed is what the code produces.
 */

/** One rate for all six: 10 per second, and the default burst (= limit) for the buckets. */
export const params: AlgorithmParams = { limit: 10, windowMs: 1000, burst: 10 }

/** The runs start on a whole second, so fixed windows are aligned to the chart's seconds. */
const origin = Date.UTC(2026, 0, 1)

export interface Traffic {
  key: 'burst' | 'steady'
  title: string
  /** Request times in ms from the start of the run; every request costs 1. */
  times: number[]
}

const every = (from: number, to: number, step: number): number[] =>
  Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => from + i * step)

export const traffic: readonly Traffic[] = [
  // starts half a window in, so a fixed window's seam falls inside the burst
  { key: 'burst', title: 'Burst: 100 requests/s for 2 s', times: every(500, 2500, 10) },
  { key: 'steady', title: 'Steady: 12.5 requests/s for 6 s', times: every(0, 6000, 80) }
]

export interface Run {
  name: AlgorithmName
  /** Times (ms from the start) of the allowed requests, by traffic. */
  allowed: Record<Traffic['key'], number[]>
  /** The largest state the store held, as JSON bytes. */
  stateBytes: number
}

/** Runs every algorithm on every traffic, keeping the state the way a store does. */
export function runAll (): Run[] {
  return algorithmNames.map((name) => {
    const run: Run = { name, allowed: { burst: [], steady: [] }, stateBytes: 0 }
    for (const { key, times } of traffic) {
      let state: unknown
      for (const at of times) {
        const result = algorithms[name].consume(state, origin + at, 1, params)
        if (!result.decision.allowed) continue
        state = result.state
        run.allowed[key].push(at)
        run.stateBytes = Math.max(run.stateBytes, Buffer.byteLength(JSON.stringify(state)))
      }
    }
    return run
  })
}

/** The most requests allowed in any interval `[t, t + W)`. */
export function mostInAnyWindow (times: number[]): number {
  return Math.max(...times.map((start) => times.filter((at) => at >= start && at < start + params.windowMs).length))
}

/** Nanoseconds per decision, best of `rounds`, at 20 requests/s against 10/s (half denied). */
export function measure (iterations = 200_000, rounds = 5): Record<AlgorithmName, number> {
  const result = {} as Record<AlgorithmName, number>
  for (const name of algorithmNames) {
    const { consume } = algorithms[name]
    let best = Infinity
    for (let round = 0; round < rounds; round++) {
      let state: unknown
      const begin = process.hrtime.bigint()
      for (let i = 0; i < iterations; i++) {
        const { decision, state: next } = consume(state, origin + i * 50, 1, params)
        if (decision.allowed) state = next
      }
      best = Math.min(best, Number(process.hrtime.bigint() - begin) / iterations)
    }
    result[name] = Math.round(best)
  }
  return result
}

/** The markdown table; `ns` is the measured time per decision, the one column that varies by machine. */
export function renderTable (runs: Run[], ns: Record<AlgorithmName, number>): string {
  const [burst, steady] = traffic
  const rows = runs.map(({ name, allowed, stateBytes }) =>
    `| \`${name}\` | ${allowed.burst.length} | ${mostInAnyWindow(allowed.burst)} | ${allowed.steady.length} | ${stateBytes} | ${ns[name]} |`)
  return [
    `| algorithm | burst: allowed of ${burst.times.length} | burst: most in any 1 s | steady: allowed of ${steady.times.length} | state (JSON bytes, at most) | ns per decision |`,
    '|---|--:|--:|--:|--:|--:|',
    ...rows
  ].join('\n')
}

// ---------------------------------------------------------------- the chart

const colors = ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4', '#9467bd', '#8c564b']
const panel = { width: 360, height: 220, left: 40, top: 64, gap: 60 }

/** Hand-made SVG: allowed requests over time, one line per behaviour, a panel per traffic. */
export function renderSvg (runs: Run[]): string {
  // algorithms that allow exactly the same requests share one line
  const lines = new Map<string, { names: string[], run: Run }>()
  for (const run of runs) {
    const key = JSON.stringify(run.allowed)
    const line = lines.get(key) ?? { names: [], run }
    line.names.push(run.name)
    lines.set(key, line)
  }
  const series = [...lines.values()]
  const width = panel.left + 2 * panel.width + panel.gap + 20
  const height = panel.top + panel.height + 40 + 18 * series.length
  const parts = traffic.map((t, i) => renderPanel(t, series.map((s) => s.run.allowed[t.key]), panel.left + i * (panel.width + panel.gap)))
  const legend = series.map(({ names }, i) => {
    const y = panel.top + panel.height + 40 + 18 * i
    return `<line x1="${panel.left}" y1="${y - 4}" x2="${panel.left + 24}" y2="${y - 4}" stroke="${colors[i]}" stroke-width="2"/>` +
      `<text x="${panel.left + 30}" y="${y}">${names.join(', ')}</text>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${panel.left}" y="22" font-size="14">Requests allowed so far, at ${params.limit} per ${params.windowMs / 1000} s (burst ${params.burst})</text>`,
    ...parts,
    ...legend,
    '</svg>',
    ''
  ].join('\n')
}

function renderPanel ({ title, times }: Traffic, allowed: number[][], left: number): string {
  const end = times[times.length - 1] + 10
  const most = Math.max(...allowed.map((a) => a.length))
  const x = (at: number): number => left + Math.round(at / end * panel.width)
  const y = (count: number): number => panel.top + panel.height - Math.round(count / most * panel.height)
  const ticks = every(0, end, 1000).map((at) =>
    `<line x1="${x(at)}" y1="${y(0)}" x2="${x(at)}" y2="${y(0) + 4}" stroke="#000"/><text x="${x(at)}" y="${y(0) + 16}" text-anchor="middle">${at / 1000} s</text>`)
  const steps = allowed.map((times, i) => {
    const points = [`${x(0)},${y(0)}`]
    times.forEach((at, n) => points.push(`${x(at)},${y(n)}`, `${x(at)},${y(n + 1)}`))
    points.push(`${x(end)},${y(times.length)}`)
    return `<polyline fill="none" stroke="${colors[i]}" stroke-width="2" points="${points.join(' ')}"/>`
  })
  return [
    `<text x="${left}" y="${panel.top - 8}">${title}</text>`,
    `<path d="M${left},${panel.top} V${y(0)} H${x(end)}" fill="none" stroke="#000"/>`,
    `<text x="${left - 6}" y="${y(most) + 4}" text-anchor="end">${most}</text>`,
    `<text x="${left - 6}" y="${y(0)}" text-anchor="end">0</text>`,
    ...ticks,
    ...steps
  ].join('\n')
}

// ---------------------------------------------------------------- the files

export const tableStart = '<!-- algorithms-table:start -->'
export const tableEnd = '<!-- algorithms-table:end -->'

/** Replaces what stands between the table markers of `readme`, and nothing else. */
export function replaceTable (readme: string, table: string): string {
  const start = readme.indexOf(tableStart)
  const end = readme.indexOf(tableEnd)
  if (start < 0 || end < start) throw new Error(`docs/algorithms.md needs ${tableStart} and ${tableEnd}, in that order`)
  return readme.slice(0, start + tableStart.length) + '\n' + table + '\n' + readme.slice(end)
}

/** Writes the chart, the table and the table of docs/algorithms.md under `root`. */
export function writeDocs (root: string, ns: Record<AlgorithmName, number>): void {
  const runs = runAll()
  const table = renderTable(runs, ns)
  const readme = join(root, 'docs', 'algorithms.md')
  writeFileSync(readme, replaceTable(readFileSync(readme, 'utf8'), table))
  writeFileSync(join(root, 'docs', 'algorithms.svg'), renderSvg(runs))
  writeFileSync(join(root, 'docs', 'algorithms-table.md'), table + '\n')
}
