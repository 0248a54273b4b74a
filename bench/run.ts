// The HTTP benchmark: bare Fastify, fastify-limiter on every store, @fastify/rate-limit and
// rate-limiter-flexible, each server in its own process and autocannon in another, interleaved
// round by round. Then a CPU profile of the request path and the memory each key costs.
// Run: npm run bench [-- --rounds 5 --duration 4 --only bare,fl-memory-sw --no-profile --no-memory]
// A/B: npm run bench -- --baseline <git ref> [--only ...]: each fastify-limiter server also runs on
// the plugin as built from <ref>, in the same rounds; the A/B table goes to stdout and
// bench/results/ab-latest.json (BENCHMARKS.md is left alone).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort, redisCommands, redisCpuMicros, runLoad, startRedis, startRedisCluster, startServer, treeCpuMicros } from './processes.js'
import { profileServer } from './profile.js'
import type { ProfileSummary } from './profile.js'
import { abTable } from './ab.js'
import { writeReport } from './report.js'
import type { BenchResults, Measurement } from './rows.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

const here = dirname(fileURLToPath(import.meta.url))
/** The repository root: this file runs as dist/bench/run.js. */
const root = join(here, '..', '..')
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: true },
    memory: { type: 'boolean', default: true },
    write: { type: 'boolean', default: true },
    // re-render BENCHMARKS.md (and README, the chart) from a results file, measuring nothing
    from: { type: 'string' },
    // a git ref whose build of the plugin each fastify-limiter server also runs on (A/B)
    baseline: { type: 'string' }
  },
  allowNegative: true
})
const rounds = Number(args.rounds)
const seconds = Number(args.duration)
const warmup = Number(args.warmup)
const connections = Number(args.connections)
const names = (args.only === undefined ? Object.keys(servers) : ['bare', ...args.only.split(',').filter((n) => n !== 'bare')]) as ServerName[]

if (args.from !== undefined) {
  writeReport(root, JSON.parse(readFileSync(args.from, 'utf8')) as BenchResults)
  process.exit(0)
}

const appScript = join(here, 'servers', 'app.js')
const loadScript = join(here, 'load.js')
const baseline = args.baseline === undefined ? undefined : buildBaseline(args.baseline)
const sqliteDir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-sqlite-'))
const redis = await startRedis()
// the Cluster only when a server uses it; its servers find it by $BENCH_CLUSTER_PORTS
const redisCluster = names.includes('fl-redis-cluster') ? await startRedisCluster() : undefined
if (redisCluster !== undefined) process.env.BENCH_CLUSTER_PORTS = redisCluster.ports.join(',')
const redisClients = [redis.client, ...redisCluster?.clients ?? []]
const began = Date.now()
const loadBefore = loadavg()[0]

/**
 * The plugin as built from git ref `ref`: its files (git archive) in a temporary directory, with
 * this checkout's node_modules, compiled by its own tsconfig.build.json. Returns its entry point.
 */
function buildBaseline (ref: string): { ref: string, commit: string, entry: string, dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-baseline-'))
  const commit = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim()
  const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: root, maxBuffer: 1 << 30 })
  execFileSync('tar', ['-x', '-C', dir], { input: tar })
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' })
  const entry = join(dir, 'dist', 'index.js')
  if (!existsSync(entry)) throw new Error(`the build of ${ref} has no dist/index.js`)
  process.stdout.write(`baseline: ${ref} (${commit}), built in ${dir}\n`)
  return { ref, commit, entry, dir }
}

/** One server, one measured run: started fresh, warmed up, measured, stopped. */
async function measure (name: ServerName, round: number, onBaseline: boolean): Promise<Omit<Measurement, 'seq'>> {
  for (const client of redisClients) await client.flushall()
  const port = await freePort()
  const env: Record<string, string> = onBaseline ? { BENCH_PLUGIN: (baseline as NonNullable<typeof baseline>).entry } : {}
  const server = await startServer([appScript, name, String(port), String(redis.port), sqliteDir], env)
  try {
    const url = `http://127.0.0.1:${port}/`
    const { clients } = servers[name]
    await runLoad(loadScript, url, { seconds: warmup, connections, clients })
    const commands0 = await redisCommands(url)
    const redisCpu0 = await redisCpuMicros(redisClients)
    // the server's process and, for a multi-process server, its workers
    const cpu0 = treeCpuMicros(server.pid)
    const load = await runLoad(loadScript, url, { seconds, connections, clients })
    const cpu = treeCpuMicros(server.pid) - cpu0
    const redisCpu = await redisCpuMicros(redisClients) - redisCpu0
    const commands = await redisCommands(url) - commands0
    return {
      name,
      ...onBaseline ? { baseline: true } : {},
      round,
      ...load,
      cpuUsPerRequest: cpu / load.requests,
      redisCpuUsPerRequest: redisCpu / load.requests,
      redisCommandsPerRequest: commands / load.requests
    }
  } finally {
    await server.stop()
  }
}

/** Servers between two runs of bare Fastify. */
const BRACKET = 3
const measurements: Measurement[] = []
const profiles: ProfileSummary[] = []
let memory: unknown
try {
  for (let round = 0; round < rounds; round++) {
    // each round starts at another server, so that none is always first (or always after
    // another), and bare Fastify runs before and after every BRACKET servers: the load of a
    // shared machine drifts, and each server is compared with the bare runs on either side of it
    // with a baseline, each fastify-limiter server runs on both builds, the two one after the
    // other (which comes first alternates by round)
    const others = names.filter((n) => n !== 'bare').flatMap((name) => baseline === undefined || !name.startsWith('fl-')
      ? [{ name, onBaseline: false }]
      : [{ name, onBaseline: round % 2 === 1 }, { name, onBaseline: round % 2 === 0 }])
    const rotated = others.map((_, i) => others[(i + round * 3) % others.length])
    const order = [{ name: 'bare' as ServerName, onBaseline: false }]
    for (let i = 0; i < rotated.length; i += BRACKET) order.push(...rotated.slice(i, i + BRACKET), { name: 'bare', onBaseline: false })
    for (const [seq, { name, onBaseline }] of order.entries()) {
      const m = { ...await measure(name, round, onBaseline), seq }
      measurements.push(m)
      process.stdout.write(`round ${round + 1}/${rounds} ${(onBaseline ? `${name}@${(baseline as NonNullable<typeof baseline>).commit}` : name).padEnd(30)} ${Math.round(m.rps).toString().padStart(6)} req/s ` +
        `${m.cpuUsPerRequest.toFixed(1).padStart(5)} µs CPU/req  Redis ${(m.redisCpuUsPerRequest ?? 0).toFixed(1).padStart(4)} µs CPU/req  non-2xx ${m.non2xx}  redis cmds/req ${m.redisCommandsPerRequest.toFixed(2)}\n`)
    }
  }
  if (args.profile && baseline === undefined) {
    for (const name of ['fl-memory-sw', 'fl-memory-429', 'fl-redis'] as const) {
      if (!names.includes(name)) continue
      await redis.client.flushall()
      profiles.push(await profileServer(name, { appScript, loadScript, redisPort: redis.port, sqliteDir, seconds, connections }))
    }
  }
  if (args.memory) {
    memory = JSON.parse(execFileSync(process.execPath, ['--expose-gc', join(here, 'memory.js')], { encoding: 'utf8' }))
  }
} finally {
  await redisCluster?.stop()
  await redis.stop()
  rmSync(sqliteDir, { recursive: true, force: true })
  if (baseline !== undefined) rmSync(baseline.dir, { recursive: true, force: true })
}

/** The commit measured (BENCH_COMMIT names it when the tree is a copy without .git). */
function commit (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    // results of earlier runs (bench/results/) are not the code measured
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results'], { cwd: root, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head} with uncommitted changes` : head
  } catch {
    return process.env.BENCH_COMMIT ?? 'unknown'
  }
}

const results: BenchResults = {
  date: new Date().toISOString(),
  commit: commit(),
  command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
  machine: {
    nproc: cpus().length,
    cpu: cpus()[0].model,
    node: process.version,
    redis: execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim(),
    loadBefore,
    loadAfter: loadavg()[0]
  },
  settings: { rounds, seconds, warmup, connections },
  minutes: (Date.now() - began) / 60_000,
  measurements,
  profiles,
  memory: memory as BenchResults['memory']
}
if (baseline !== undefined) {
  results.baseline = baseline.commit
  writeFileSync(join(root, 'bench', 'results', 'ab-latest.json'), JSON.stringify(results, null, 2) + '\n')
  process.stdout.write('\n' + abTable(results) + '\n')
} else if (args.write) {
  writeReport(root, results)
} else {
  process.stdout.write(JSON.stringify(results, null, 2) + '\n')
}
