// The load generator, in a process of its own so that it never shares an event loop with the
// server it measures: `node dist/bench/load.js <url> <seconds> <connections> <clients>`.
// Prints one JSON line: requests completed, requests/s, latency p50/p99 (ms), non-2xx, errors.
import autocannon from 'autocannon'

const [url, seconds, connections, clients] = process.argv.slice(2)

/** X-Forwarded-For for the n-th client: IPv4 addresses from 10.0.0.0 on. */
function ip (n: number): string {
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

/** The pool of already-blocked clients; the warm-up run sends each at least one request. */
const POOL = 1000
let sent = 0
const setupRequest = clients === 'one'
  ? undefined
  : (request: { headers?: Record<string, string> }) => {
      const n = clients === 'pool' ? sent++ % POOL : sent++
      request.headers = { ...request.headers, 'x-forwarded-for': ip(n) }
      return request
    }

const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  ...(setupRequest === undefined ? {} : { requests: [{ setupRequest: setupRequest as never }] })
})
process.stdout.write(JSON.stringify({
  requests: result.requests.total,
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts
}) + '\n')
