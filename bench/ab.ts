// The A/B table of `npm run bench -- --baseline <ref>`: every fastify-limiter server measured on
// this tree's build and on the baseline's, in the same rounds, each run against the bare Fastify
// runs around it. The difference that counts is the median of the per-round differences (a pair
// of runs close in time), set against the noise of the run (the bare row's spread).
import { fmt, median, rows, baseline as bareAround } from './rows.js'
import type { BenchResults, Measurement } from './rows.js'
import { servers } from './servers/names.js'

/** The ratio of one run to the bare runs around it (undefined without any). */
function ratio (all: Measurement[], m: Measurement): number | undefined {
  const base = bareAround(all, m)
  return base === undefined ? undefined : base.cpu / m.cpuUsPerRequest
}

export function abTable (results: BenchResults): string {
  const all = results.measurements
  const current = rows({ ...results, measurements: all.filter((m) => m.baseline !== true) })
  const base = rows({ ...results, measurements: all.filter((m) => m.baseline === true || !m.name.startsWith('fl-')) })
  const noise = current.find((r) => r.name === 'bare')?.mad ?? Number.NaN
  const lines = base.filter((b) => b.name.startsWith('fl-')).map((b) => {
    const a = current.find((r) => r.name === b.name)
    if (a === undefined) return ''
    // per round: this tree's ratio minus the baseline's
    const diffs: number[] = []
    for (const round of new Set(all.map((m) => m.round))) {
      const pick = (onBaseline: boolean) => all.find((m) => m.round === round && m.name === b.name && (m.baseline === true) === onBaseline)
      const x = pick(false)
      const y = pick(true)
      const rx = x === undefined ? undefined : ratio(all, x)
      const ry = y === undefined ? undefined : ratio(all, y)
      if (rx !== undefined && ry !== undefined) diffs.push(rx - ry)
    }
    const diff = median(diffs)
    const verdict = Math.abs(diff) <= noise ? 'within the noise' : diff > 0 ? 'better' : 'worse'
    return `| ${servers[b.name].label} | ${fmt(a.ratio)} ±${fmt(a.mad)} (${fmt(a.cpuUs, 1)} µs) | ${fmt(b.ratio)} ±${fmt(b.mad)} (${fmt(b.cpuUs, 1)} µs) | ` +
      `${diff >= 0 ? '+' : ''}${fmt(diff)} (${diffs.map((d) => fmt(d)).join(', ')}) | ${verdict} |`
  }).filter((line) => line !== '')
  return [
    `A/B at ${results.date}: this tree (${results.commit}) against ${results.baseline ?? '?'}; ${results.settings.rounds} rounds, ratios to bare Fastify (CPU per request), median ± median absolute deviation; noise of the run (the bare row's spread) ±${fmt(noise)}.`,
    '',
    '| server | this tree | baseline | this tree − baseline, median of rounds (each round) | |',
    '|---|---|---|---|---|',
    ...lines
  ].join('\n')
}
