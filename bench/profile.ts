// A CPU profile of one benchmark server under load (`node --cpu-prof`), summarised: the
// functions with the most self time, and where the busy time went (plugin, Fastify, Node core...).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { freePort, runLoad, startServer } from './processes.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  name: ServerName
  requests: number
  /** Sampled CPU time, ms, not counting idle. */
  totalMs: number
  /** Share of busy samples by where they were spent (see `group`). */
  groups: Array<{ group: string, share: number }>
  /** The functions with the most self time, as shares of busy samples. */
  top: Array<{ fn: string, where: string, selfMs: number, share: number }>
}

/**
 * Who a sample belongs to: the nearest frame (from the leaf up) that has a script: the plugin
 * (its compiled dist/ code), an npm package, or Node core. Native functions (no script: escape,
 * writev, JSON.stringify) count for the code that called them.
 */
function group (url: string): string {
  if (/\/dist\/(index\.js|lib\/|stores\/|algorithms\/)/.test(url)) return 'fastify-limiter'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return pkg[1]
  return url.startsWith('node:') ? 'Node core (http, net, streams, timers)' : 'other'
}

const IDLE = new Set(['(idle)'])
const SPECIAL = new Set(['(garbage collector)', '(program)'])

/** Self time by function and busy time by group, from a .cpuprofile. */
export function summarize (profile: CpuProfile, root: string, count = 15): Omit<ProfileSummary, 'name' | 'requests'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const where = new Map<string, string>()
  const groups = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    const node = byId.get(profile.samples[i]) as ProfileNode
    const { functionName, url, lineNumber } = node.callFrame
    if (IDLE.has(functionName)) continue
    const fn = functionName === '' ? '(anonymous)' : functionName
    const at = url === '' ? '' : `${url.startsWith('file://') ? relative(root, new URL(url).pathname) : url}:${lineNumber + 1}`
    const id = `${fn} ${at}`
    self.set(id, (self.get(id) ?? 0) + dt)
    where.set(id, at)
    total += dt
    let owner = SPECIAL.has(functionName) ? functionName : 'other'
    if (!SPECIAL.has(functionName)) {
      for (let n: number | undefined = node.id; n !== undefined; n = parent.get(n)) {
        const frameUrl = (byId.get(n) as ProfileNode).callFrame.url
        if (frameUrl !== '') {
          owner = group(frameUrl)
          break
        }
      }
    }
    groups.set(owner, (groups.get(owner) ?? 0) + dt)
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([id, us]) => ({
    fn: id.slice(0, id.length - (where.get(id) as string).length).trim(),
    where: where.get(id) as string,
    selfMs: us / 1000,
    share: us / total
  }))
  return {
    totalMs: total / 1000,
    groups: [...groups.entries()].sort((a, b) => b[1] - a[1]).map(([g, us]) => ({ group: g, share: us / total })),
    top
  }
}

/** Runs server `name` under `--cpu-prof`, loads it, stops it, and summarises the profile. */
export async function profileServer (
  name: ServerName,
  { appScript, loadScript, redisPort, sqliteDir, seconds, connections }: {
    appScript: string, loadScript: string, redisPort: number, sqliteDir: string, seconds: number, connections: number
  }
): Promise<ProfileSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-prof-'))
  try {
    const port = await freePort()
    const server = await startServer(['--cpu-prof', '--cpu-prof-dir', dir, appScript, name, String(port), String(redisPort), sqliteDir])
    const url = `http://127.0.0.1:${port}/`
    let requests = 0
    try {
      await runLoad(loadScript, url, { seconds: 1, connections, clients: servers[name].clients })
      requests = (await runLoad(loadScript, url, { seconds, connections, clients: servers[name].clients })).requests
    } finally {
      await server.stop()
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) as string
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
    return { name, requests, ...summarize(profile, join(appScript, '..', '..', '..', '..')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
