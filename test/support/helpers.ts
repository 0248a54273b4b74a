import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { MemoryStore } from '../../stores/memory.js'
import type { Store } from '../../stores/store.js'

/** A clock the tests move by hand: no sleeps anywhere. */
export class Clock {
  // A fixed instant 20 s into a minute, so window boundaries are predictable.
  now = 1_700_000_000_000
  readonly read = (): number => this.now
  advance (ms: number): void {
    this.now += ms
  }
}

export interface Built {
  app: FastifyInstance
  clock: Clock
}

/** A Fastify app with the limiter registered on an injected clock. */
export async function build (
  options: FastifyLimiterOptions = {},
  server: FastifyServerOptions = {}
): Promise<Built> {
  const clock = new Clock()
  const app = Fastify(server)
  await app.register(limiter, { clock: clock.read, ...options })
  return { app, clock }
}

/** A Fastify `logger` option at `level` whose lines are kept, parsed, in `lines`. */
export function captureLog (level: string): { lines: Array<Record<string, any>>, logger: { level: string, stream: { write (line: string): void } } } {
  const lines: Array<Record<string, any>> = []
  return { lines, logger: { level, stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }
}

/** Sends `count` GETs to `url` and returns their status codes. */
export async function hit (app: FastifyInstance, url: string, count: number, headers: Record<string, string> = {}): Promise<number[]> {
  const codes: number[] = []
  for (let i = 0; i < count; i++) {
    codes.push((await app.inject({ url, headers })).statusCode)
  }
  return codes
}

/** Runs `fn` and returns the error it throws (or fails the caller's assertion with undefined). */
export function thrown (fn: () => unknown): (Error & { code?: string }) | undefined {
  try {
    fn()
  } catch (err) {
    return err as Error & { code?: string }
  }
  return undefined
}

/**
 * Node arguments for a child process that runs TypeScript sources: the test's own loader
 * (tap's), so the child transpiles exactly like the test and its coverage merges with the
 * parent's (a child on another loader, such as tsx, reports coverage of different code).
 */
export function childArgs (...args: string[]): string[] {
  return [...process.execArgv, ...args]
}

/**
 * Runs `fn` with uncaught exceptions collected instead of failing the test run, until the turn
 * after it ends (a store's sink that throws has its error thrown on its own, right after its
 * batch's answers).
 */
export async function catching (fn: () => Promise<void>): Promise<unknown[]> {
  const caught: unknown[] = []
  const listener = (err: unknown): void => { caught.push(err) }
  const others = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  process.on('uncaughtException', listener)
  try {
    await fn()
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('uncaughtException', listener)
    for (const other of others) process.on('uncaughtException', other)
  }
  return caught
}

/**
 * Forks `name` of test/support/fixtures (on this process's TypeScript loader) and resolves at
 * its first message; the child is killed when `t` ends, if it has not exited by then.
 */
export async function forkFixture (t: { teardown (fn: () => void): void }, name: string, args: string[]): Promise<ChildProcess> {
  const child = fork(new URL(`fixtures/${name}`, import.meta.url).pathname, args)
  t.teardown(() => { child.kill('SIGKILL') })
  await once(child, 'message')
  return child
}

/**
 * A store with only the required methods (as a custom store written before the optional ones),
 * deciding on a real MemoryStore; `extra` adds methods. Closed with the test.
 */
export function requiredOnlyStore (t: { teardown: (fn: () => void) => void }, extra: Partial<Store> = {}): Store {
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  return {
    consume: (buckets, cost, now) => memory.consume(buckets, cost, now),
    reset: (key) => memory.reset(key),
    clear: (prefix) => memory.clear(prefix),
    stats: () => memory.stats(),
    close: () => {},
    ...extra
  }
}

/** A handler that holds each request until `open()` is called; `entered` counts who got in (concurrency tests). */
export function gate () {
  let open = () => {}
  let opened = new Promise<void>((resolve) => { open = resolve })
  const state = {
    entered: 0,
    open: () => open(),
    reset: () => { opened = new Promise<void>((resolve) => { open = resolve }) },
    handler: async (request: FastifyRequest) => {
      state.entered++
      await opened
      return { ok: true, inFlight: request.rateLimit?.inFlight }
    }
  }
  return state
}

/** Waits until `check()` holds. */
export async function until (check: () => boolean | Promise<boolean>): Promise<void> {
  // waits for an event, not a duration: the test's own timeout bounds it
  while (!await check()) await new Promise((resolve) => setTimeout(resolve, 5))
}
