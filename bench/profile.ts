// A CPU profile of one benchmark server under load (`node --cpu-prof`), summarised: the
// functions with the most self time, and the share of all samples spent inside the plugin.
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
  /** Sampled CPU time, ms. */
  totalMs: number
  /** Share of samples with a plugin frame on the stack (the plugin and what it calls). */
  pluginInclusive: number
  top: Array<{ fn: string, where: string, selfMs: number, share: number }>
}

/** Whether a script URL is the plugin's compiled code (dist/, not the benchmark's). */
function isPlugin (url: string): boolean {
  return /\/dist\/(index\.js|lib\/|stores\/|algorithms\/)/.test(url)
}

/** Self time by function, and the plugin's inclusive share, from a .cpuprofile. */
export function summarize (profile: CpuProfile, root: string, count = 15): Omit<ProfileSummary, 'name' | 'requests'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const where = new Map<string, string>()
  let total = 0
  let inPlugin = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    const node = byId.get(profile.samples[i]) as ProfileNode
    const { functionName, url, lineNumber } = node.callFrame
    const fn = functionName === '' ? '(anonymous)' : functionName
    const at = url === '' ? '' : `${url.startsWith('file://') ? relative(root, new URL(url).pathname) : url}:${lineNumber + 1}`
    const id = `${fn} ${at}`
    self.set(id, (self.get(id) ?? 0) + dt)
    where.set(id, at)
    total += dt
    for (let n: number | undefined = node.id; n !== undefined; n = parent.get(n)) {
      if (isPlugin((byId.get(n) as ProfileNode).callFrame.url)) {
        inPlugin += dt
        break
      }
    }
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([id, us]) => ({
    fn: id.slice(0, id.length - (where.get(id) as string).length).trim(),
    where: where.get(id) as string,
    selfMs: us / 1000,
    share: us / total
  }))
  return { totalMs: total / 1000, pluginInclusive: inPlugin / total, top }
}

/** Runs server `name` under `--cpu-prof`, loads it, stops it, and summarises the profile. */
export async function profileServer (
  name: ServerName, appScript: string, loadScript: string, redisPort: number, sqliteDir: string,
  seconds: number, connections: number
): Promise<ProfileSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-prof-'))
  try {
    const port = await freePort()
    const server = await startServer(['--cpu-prof', '--cpu-prof-dir', dir, appScript, name, String(port), String(redisPort), sqliteDir])
    const url = `http://127.0.0.1:${port}/`
    let requests = 0
    try {
      await runLoad(loadScript, url, 1, connections, servers[name].clients)
      requests = (await runLoad(loadScript, url, seconds, connections, servers[name].clients)).requests
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
