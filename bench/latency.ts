/**
 * The row a store benchmark prints: decisions per second and latency percentiles, from the
 * per-call latencies (µs) of `latencies.length` calls that took `seconds` in all.
 */
export function summarize (latencies: Float64Array, seconds: number, allowed: number): Record<string, string> {
  const calls = latencies.length
  latencies.sort()
  const at = (q: number) => latencies[Math.min(calls - 1, Math.floor(q * calls))].toFixed(1)
  return {
    'decisions/s': Math.round(calls / seconds).toLocaleString('en-US'),
    'p50 µs': at(0.5),
    'p99 µs': at(0.99),
    'p99.9 µs': at(0.999),
    allowed: `${(100 * allowed / calls).toFixed(0)}%`
  }
}
