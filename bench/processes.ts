// Child processes of the benchmark: a throwaway redis-server, the servers, the load generator,
// and the CPU time the kernel charged to a process.
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
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

/** Redis commands a benchmark server has sent so far (it counts them itself). */
export async function redisCommands (url: string): Promise<number> {
  const response = await fetch(new URL('/__commands', url))
  return ((await response.json()) as { commands: number }).commands
}

/** Starts `node <args>` and resolves once it prints `ready`. */
export async function startServer (args: string[]): Promise<Child> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
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
export async function runLoad (script: string, url: string, seconds: number, connections: number, clients: string): Promise<Load> {
  const child = spawn(process.execPath, [script, url, String(seconds), String(connections), clients], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const [code] = await once(child, 'exit') as [number]
  children.delete(child)
  if (code !== 0) throw new Error(`the load generator exited with ${code}`)
  return JSON.parse(out) as Load
}
