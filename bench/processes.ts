// Child processes of the benchmark: a throwaway redis-server, the servers, the load generator,
// and the CPU time the kernel charged to a process.
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())

/** CPU time (user + system, every thread) the kernel has charged to `pid`, in µs. */
export function cpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1e6 / ticksPerSecond
}

/** `pid` and every process under it (the workers of a node:cluster server), from /proc. */
function tree (pid: number): number[] {
  const all = [pid]
  let tasks: string[] = []
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return all
  }
  for (const task of tasks) {
    let children = ''
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim()
    } catch {
      continue
    }
    for (const child of children.split(' ').filter((c) => c !== '')) all.push(...tree(Number(child)))
  }
  return all
}

/** CPU time charged to `pid` and the processes under it, in µs. */
export function treeCpuMicros (pid: number): number {
  return tree(pid).reduce((sum, p) => {
    try {
      return sum + cpuMicros(p)
    } catch {
      // a process that exited between the listing and the read
      return sum
    }
  }, 0)
}

/** CPU time (user + system) the Redis servers behind `clients` have used, in µs (INFO cpu). */
export async function redisCpuMicros (clients: readonly Redis[]): Promise<number> {
  let total = 0
  for (const client of clients) {
    const info = await client.info('cpu')
    const field = (name: string) => Number((new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info) as RegExpExecArray)[1])
    total += (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
  }
  return total
}

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Resolves when `child` prints `line` on stdout; rejects when it exits first. */
function waitFor (child: ChildProcess, line: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes(line)) {
        child.stdout?.off('data', onData)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`)))
  })
}

export interface Child {
  readonly pid: number
  stop (): Promise<void>
}

function track (child: ChildProcess): Child {
  children.add(child)
  const exited = once(child, 'exit')
  return {
    pid: child.pid as number,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
      children.delete(child)
    }
  }
}

export interface RedisServer extends Child {
  readonly port: number
  readonly client: Redis
}

/** redis-server on a free loopback port, without persistence, in a temporary directory. */
export async function startRedis (): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-redis-'))
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  await waitFor(child, 'Ready to accept connections', 'redis-server')
  const tracked = track(child)
  const client = new Redis({ host: '127.0.0.1', port })
  return {
    port,
    pid: tracked.pid,
    client,
    async stop () {
      client.disconnect()
      await tracked.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface RedisClusterServers {
  readonly ports: number[]
  /** One client per master, for INFO and FLUSHALL. */
  readonly clients: Redis[]
  stop (): Promise<void>
}

/**
 * A Redis Cluster of 3 masters on loopback: each node with `--cluster-enabled yes` and its own
 * free `--cluster-port`, slots split evenly, joined by CLUSTER MEET; ready once every node says
 * `cluster_state:ok` and knows the others.
 */
export async function startRedisCluster (masters = 3): Promise<RedisClusterServers> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-cluster-'))
  const nodes: Child[] = []
  const ports: number[] = []
  const buses: number[] = []
  // two ports a node, each free when picked: the kernel may hand out a port just released again
  // (a node's port and bus the same), and another process may take one before the node binds it,
  // so the ports are kept distinct and a node that cannot bind is started again on new ones
  const taken = new Set<number>()
  const distinctFreePort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort()
      if (!taken.has(port)) {
        taken.add(port)
        return port
      }
    }
  }
  for (let i = 0; i < masters; i++) {
    for (let attempt = 1; ; attempt++) {
      const port = await distinctFreePort()
      const bus = await distinctFreePort()
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
        '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-port', String(bus),
        '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'], { stdio: ['ignore', 'pipe', 'inherit'] })
      try {
        await waitFor(child, 'Ready to accept connections', 'redis-server (cluster)')
      } catch (err) {
        if (attempt < 3) continue
        throw err
      }
      nodes.push(track(child))
      ports.push(port)
      buses.push(bus)
      break
    }
  }
  const clients = ports.map((port) => new Redis({ host: '127.0.0.1', port }))
  const slots = 16384
  for (let i = 0; i < masters; i++) {
    await clients[i].call('cluster', 'addslotsrange', Math.floor(i * slots / masters), Math.floor((i + 1) * slots / masters) - 1)
    if (i > 0) await clients[0].call('cluster', 'meet', '127.0.0.1', ports[i], buses[i])
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const infos = await Promise.all(clients.map((c) => c.call('cluster', 'info') as Promise<string>))
    if (infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`))) break
    if (Date.now() > deadline) throw new Error('the benchmark Redis Cluster did not form in 30 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    ports,
    clients,
    async stop () {
      for (const client of clients) client.disconnect()
      for (const node of nodes) await node.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Redis commands a benchmark server has sent so far (it counts them itself). */
export async function redisCommands (url: string): Promise<number> {
  const response = await fetch(new URL('/__commands', url))
  return ((await response.json()) as { commands: number }).commands
}

/** Starts `node <args>` (with `env` added to this process's) and resolves once it prints `ready`. */
export async function startServer (args: string[], env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  await waitFor(child, 'ready', `node ${args.join(' ')}`)
  return track(child)
}

export interface Load {
  requests: number
  rps: number
  p50: number
  p99: number
  non2xx: number
  errors: number
}

/** Runs the load generator (bench/load.ts) to completion and returns what it measured. */
export async function runLoad (script: string, url: string, { seconds, connections, clients }: { seconds: number, connections: number, clients: string }): Promise<Load> {
  const child = spawn(process.execPath, [script, url, String(seconds), String(connections), clients], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const [code] = await once(child, 'exit') as [number]
  children.delete(child)
  if (code !== 0) throw new Error(`the load generator exited with ${code}`)
  return JSON.parse(out) as Load
}
