import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { delimiter, join } from 'node:path'
import type { Cluster as ClusterType, Redis as RedisType, RedisOptions } from 'ioredis'
import type { Test } from 'tap'
import { storeConformance } from '../../stores/conformance.js'
import { RedisStore } from '../../stores/redis.js'
import type { RedisClient } from '../../stores/redis.js'

/**
 * The ioredis the Redis tests run on: ioredis 6 (the devDependency), or the package named by
 * $FASTIFY_LIMITER_IOREDIS (`.ci/run` runs the Redis tests once more with `ioredis5`, the
 * alias devDependency of ioredis 5, since the peer range is `^5 || ^6`). Both have the API the
 * tests use, so they are typed as the one installed under its own name.
 */
export const ioredisModule: string = process.env.FASTIFY_LIMITER_IOREDIS ?? 'ioredis'
const ioredis = createRequire(import.meta.url)(ioredisModule) as typeof import('ioredis')
/** The chosen ioredis' classes. */
export const Redis: typeof RedisType = ioredis.Redis
export const Cluster: typeof ClusterType = ioredis.Cluster
// a class's name is both a value and a type; these names stand for the chosen ioredis' classes as both
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type Redis = RedisType
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type Cluster = ClusterType

/**
 * Throwaway redis-server processes for the Redis store tests: each on a free loopback port,
 * with no persistence, in its own temporary directory, stopped by pid in the test's teardown.
 * The only waits are for a server to come up and for a Sentinel failover, polled with a
 * bounded deadline.
 */

/** The tap `Test` surface these helpers use. */
interface Teardown {
  teardown (fn: () => unknown): void
}

/** redis-server: $REDIS_SERVER when it names one, else the first one on PATH. */
export const redisServerBin: string | undefined = [
  process.env.REDIS_SERVER ?? '',
  ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'redis-server'))
].find((file) => file !== '' && existsSync(file))

/**
 * Whether the Redis tests can run here. When redis-server is missing it says so loudly and
 * skips them, or fails when FASTIFY_LIMITER_REQUIRE_REDIS=1 (CI, where they must run).
 */
export function redisAvailable (t: Test): boolean {
  if (redisServerBin !== undefined) return true
  const message = 'redis-server was not found on PATH (nor $REDIS_SERVER): the Redis store tests did NOT run. ' +
    'Install it (apt-get install redis-server) to run them'
  if (process.env.FASTIFY_LIMITER_REQUIRE_REDIS === '1') {
    t.fail(`${message}; FASTIFY_LIMITER_REQUIRE_REDIS=1 makes that a failure`)
  } else {
    // stderr passes through tap's reporter, so this shows in every `npm test` output
    process.stderr.write(`\nWARNING: ${message}\n\n`)
    t.plan(0, message)
  }
  return false
}

/** Every server still running, so that even a crashed test run leaves none behind. */
const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** A port nothing listens on now: bind port 0 on loopback, read the port, close. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface RedisServer {
  readonly port: number
  readonly pid: number
  readonly url: string
  /** Kills the server (SIGKILL: it keeps nothing) and waits for it to exit. */
  stop (): Promise<void>
}

/** Sends PING on a raw socket; resolves true on +PONG (a loading or starting server says otherwise). */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    socket.setTimeout(1000, () => socket.destroy())
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) socket.end()
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(reply.startsWith('+PONG')))
  })
}

/** Polls `check` every 20 ms until it returns true; throws `what` past `timeoutMs`. */
export async function until (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Starts redis-server on a free loopback port with `--save '' --appendonly no` plus `extra`
 * (given the port), waits for PING, and stops it in `t`'s teardown. With `config`, that file
 * (written into the server's directory) comes first, as Sentinel needs.
 */
export async function startRedis (
  t: Teardown,
  extra: (port: number, dir: string) => string[] = () => [],
  config?: (port: number, dir: string) => string
): Promise<RedisServer> {
  if (redisServerBin === undefined) throw new Error('redis-server is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-redis-'))
  // another process may take the free port before the server binds it: try a few
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const head: string[] = []
    if (config !== undefined) {
      const file = join(dir, 'redis.conf')
      writeFileSync(file, config(port, dir))
      head.push(file)
    }
    const child = spawn(redisServerBin, [
      ...head,
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--save', '', '--appendonly', 'no', '--logfile', '',
      ...extra(port, dir)
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    let log = ''
    const collect = (chunk: Buffer) => { log = (log + chunk.toString()).slice(-4000) }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    const exited = once(child, 'exit')
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      running.delete(child)
    }
    try {
      await until(`redis-server on port ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${log}`)
        return ping(port)
      })
    } catch (err) {
      await stop()
      if (attempt < 3) continue
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
    const server: RedisServer = { port, pid: child.pid as number, url: `redis://127.0.0.1:${port}`, stop }
    t.teardown(async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    })
    return server
  }
}

/**
 * Connection errors reach the tests through the commands that fail; without a listener
 * ioredis would also print each one (a killed master, a server stopped before its client).
 */
function quiet (client: Redis | Cluster): void {
  client.on('error', () => {})
}

/** An ioredis client closed in `t`'s teardown. */
export function connect (t: Teardown, port: number, options: RedisOptions = {}): Redis {
  const client = new Redis({ host: '127.0.0.1', port, ...options })
  quiet(client)
  t.teardown(() => client.disconnect())
  return client
}

export interface RedisCluster {
  readonly nodes: RedisServer[]
  /** A new ioredis Cluster client on these nodes, closed in the teardown. */
  client (options?: ConstructorParameters<typeof Cluster>[1]): Cluster
}

const SLOTS = 16384

/**
 * A Redis Cluster of `masters` nodes on loopback (no replicas): each node started with
 * `--cluster-enabled yes` and its own free cluster bus port, slots split evenly with
 * CLUSTER ADDSLOTSRANGE, joined with CLUSTER MEET, ready once every node reports
 * `cluster_state:ok` and knows every other.
 */
export async function startCluster (t: Teardown, masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  const buses: number[] = []
  for (let i = 0; i < masters; i++) {
    // startRedis tries new client ports; a bus port taken meanwhile needs a new bus port too
    for (let attempt = 1; ; attempt++) {
      const bus = await freePort()
      try {
        nodes.push(await startRedis(t, () => [
          '--cluster-enabled', 'yes', '--cluster-port', String(bus),
          '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'
        ]))
      } catch (err) {
        if (attempt < 3) continue
        throw err
      }
      buses.push(bus)
      break
    }
  }
  const admins = nodes.map((node) => new Redis({ host: '127.0.0.1', port: node.port }))
  try {
    for (let i = 0; i < masters; i++) {
      const from = Math.floor(i * SLOTS / masters)
      const to = Math.floor((i + 1) * SLOTS / masters) - 1
      await admins[i].call('cluster', 'addslotsrange', from, to)
      if (i > 0) await admins[0].call('cluster', 'meet', '127.0.0.1', nodes[i].port, buses[i])
    }
    await until('the cluster to form', async () => {
      for (const admin of admins) {
        const info = await admin.call('cluster', 'info') as string
        if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${masters}`)) return false
      }
      return true
    })
  } finally {
    for (const admin of admins) admin.disconnect()
  }
  return {
    nodes,
    client (options = {}) {
      const cluster = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), options)
      quiet(cluster)
      t.teardown(() => cluster.disconnect())
      return cluster
    }
  }
}

export interface RedisSentinel {
  readonly master: RedisServer
  readonly replica: RedisServer
  readonly sentinel: RedisServer
  readonly name: string
  /** A new ioredis client that finds the master through the sentinel, closed in the teardown. */
  client (options?: RedisOptions): Redis
}

/**
 * A master, one replica and one sentinel (quorum 1) on loopback, with short detection times
 * so a failover takes a few seconds. Ready once the replica is in sync and the sentinel knows it.
 */
export async function startSentinel (t: Teardown): Promise<RedisSentinel> {
  const name = 'limiter'
  const master = await startRedis(t)
  const replica = await startRedis(t, () => ['--replicaof', '127.0.0.1', String(master.port)])
  const sentinel = await startRedis(t, () => ['--sentinel'], (_port, dir) => [
    `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} 300`,
    `sentinel failover-timeout ${name} 5000`,
    ''
  ].join('\n'))
  const admin = new Redis({ host: '127.0.0.1', port: replica.port })
  const watcher = new Redis({ host: '127.0.0.1', port: sentinel.port })
  try {
    await until('the replica to sync', async () => (await admin.info('replication')).includes('master_link_status:up'))
    await until('the sentinel to see the replica', async () => {
      const replicas = await watcher.call('sentinel', 'replicas', name) as string[][]
      return replicas.some((fields) => fields[fields.indexOf('flags') + 1] === 'slave')
    })
  } finally {
    admin.disconnect()
    watcher.disconnect()
  }
  return {
    master,
    replica,
    sentinel,
    name,
    client (options = {}) {
      const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name, ...options })
      quiet(client)
      t.teardown(() => client.disconnect())
      return client
    }
  }
}

/**
 * The shared store suite on a Redis store over `client`: once with the suite's hand-moved clock
 * injected, once on the Redis server's own clock (TIME), as production runs it. Each store of
 * the suite gets its own key prefix, `<prefix>-<n>:`, on the one server.
 */
export async function redisConformance (t: Test, { name, client, prefix }: { name: string, client: RedisClient, prefix: string }): Promise<void> {
  let stores = 0
  await storeConformance(t, {
    name,
    makeStore: (clock) => new RedisStore({ client, clock, keyPrefix: `${prefix}-${stores++}:` })
  })
  await storeConformance(t, {
    name: `${name} on the server clock`,
    supportsInjectedClock: false,
    makeStore: () => new RedisStore({ client, keyPrefix: `${prefix}-${stores++}:` })
  })
}
