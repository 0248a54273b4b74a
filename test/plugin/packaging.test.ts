// The published package: `npm pack` ships only dist/, README, LICENSE and package.json; the tarball
// installs in an empty folder (its dependencies from the registry, or npm's cache) and works from an
// ES module, from CommonJS (`require()` of ES modules, built into Node >= 20.19, no flag), and from
// TypeScript in both module systems; @arethetypeswrong/cli passes with the esm-only profile. No
// source map or declaration map points to a file the package does not hold (the .ts sources are
// not shipped, so the build makes no maps).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import type { SpawnSyncOptions } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

t.setTimeout(300_000)

const root = fileURLToPath(new URL('../..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'fastify-limiter-pack-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

function run (command: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, ...options })
  return { status: result.status, out: String(result.stdout), err: String(result.stderr) }
}

const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd })

// `npm pack` runs `prepack` (the build) first
const packed = npm(['pack', '--json', '--pack-destination', work], root)
const [pack] = JSON.parse(packed.out) as Array<{ filename: string, files: Array<{ path: string }> }>
const tarball = join(work, pack.filename)
const consumer = join(work, 'consumer')

t.test('the tarball holds dist/, README.md, LICENSE and package.json only', async (t) => {
  t.equal(packed.status, 0, packed.err)
  const paths = pack.files.map((f) => f.path)
  const outside = paths.filter((p) => !p.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(p))
  t.same(outside, [])
  for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/stores/conformance.js', 'dist/stores/conformance.d.ts', 'README.md', 'LICENSE']) {
    t.ok(paths.includes(p), p)
  }
  t.same(paths.filter((p) => /^dist\/(test|bench|examples|scripts)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts'))), [], 'no tests, benchmarks or sources')
})

t.test('no source map or declaration map points to a missing file', async (t) => {
  const unpacked = join(work, 'unpacked')
  mkdirSync(unpacked)
  const tar = run('tar', ['-xzf', tarball, '-C', unpacked])
  t.equal(tar.status, 0, tar.err)
  const pkg = join(unpacked, 'package')
  const files = (readdirSync(pkg, { recursive: true }) as string[]).filter((f) => /\.(js|ts|map)$/.test(f))
  t.ok(files.includes(join('dist', 'index.js')), 'the tarball is unpacked')
  const missing: string[] = []
  for (const file of files) {
    const text = readFileSync(join(pkg, file), 'utf8')
    const targets = file.endsWith('.map')
      ? (JSON.parse(text) as { sources: string[] }).sources
      : [...text.matchAll(/^\/\/# sourceMappingURL=(\S+)$/gm)].map((m) => m[1])
    for (const target of targets) {
      const resolved = join(pkg, dirname(file), target)
      if (relative(pkg, resolved).startsWith('..') || !existsSync(resolved)) missing.push(`${file} -> ${target}`)
    }
  }
  t.same(missing, [], 'every sourceMappingURL and map source is in the package')
  // the choice made: no maps at all (their sources, the .ts files, are not shipped)
  t.same(files.filter((f) => f.endsWith('.map')), [])
})

t.test('installs in an empty folder and runs from ESM and CommonJS', async (t) => {
  rmSync(consumer, { recursive: true, force: true })
  run('mkdir', ['-p', consumer])
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  const install = npm(['install', tarball, 'fastify@5', '--prefer-offline'], consumer)
  t.equal(install.status, 0, install.err)

  writeFileSync(join(consumer, 'esm.mjs'), `
import Fastify from 'fastify'
import limiter, { MemoryStore, fastifyLimiter, errors } from 'fastify-limiter'
import { storeConformance } from 'fastify-limiter/test-suite'
const app = Fastify()
await app.register(limiter, { store: new MemoryStore() })
app.get('/', { config: { rateLimit: '1/min' } }, async () => 'ok')
const codes = [(await app.inject('/')).statusCode, (await app.inject('/')).statusCode]
console.log(JSON.stringify({ codes, same: limiter === fastifyLimiter, errors: typeof errors.INVALID_RATE, suite: typeof storeConformance }))
await app.close()
`)
  writeFileSync(join(consumer, 'cjs.cjs'), `
const Fastify = require('fastify')
const limiter = require('fastify-limiter')
const { storeConformance } = require('fastify-limiter/test-suite')
const app = Fastify()
app.register(limiter.default, { headers: 'ietf' })
app.register(async (instance) => { instance.get('/', { config: { rateLimit: '1/min' } }, async () => 'ok') })
app.ready().then(async () => {
  const first = await app.inject('/')
  const codes = [first.statusCode, (await app.inject('/')).statusCode]
  console.log(JSON.stringify({ codes, policy: first.headers['ratelimit-policy'], named: limiter.fastifyLimiter === limiter.default, suite: typeof storeConformance }))
  await app.close()
})
`)
  const esm = run(process.execPath, ['esm.mjs'], { cwd: consumer })
  t.equal(esm.status, 0, esm.err)
  t.same(JSON.parse(esm.out), { codes: [200, 429], same: true, errors: 'function', suite: 'function' })
  const cjs = run(process.execPath, ['cjs.cjs'], { cwd: consumer })
  t.equal(cjs.status, 0, cjs.err)
  t.same(JSON.parse(cjs.out), { codes: [200, 429], policy: '"ip-1/min";q=1;w=60', named: true, suite: 'function' })
  t.equal(cjs.err, '', 'require() of the ES module prints no warning')

  // Fastify's register takes the namespace require() returns as it is (it registers its default)
  writeFileSync(join(consumer, 'namespace.cjs'), `
const Fastify = require('fastify')
const limiter = require('fastify-limiter')
const app = Fastify()
app.register(limiter, { global: '1/min' })
app.register(async (instance) => { instance.get('/', async () => 'ok') })
app.ready().then(async () => {
  const codes = [(await app.inject('/')).statusCode, (await app.inject('/')).statusCode]
  console.log(JSON.stringify({ codes, decorated: typeof app.rateLimit.reset }))
  await app.close()
})
`)
  const namespace = run(process.execPath, ['namespace.cjs'], { cwd: consumer })
  t.equal(namespace.status, 0, namespace.err)
  t.same(JSON.parse(namespace.out), { codes: [200, 429], decorated: 'function' }, 'registered unencapsulated, like the default export')
})

t.test('types resolve for TypeScript consumers, ESM and CommonJS (module nodenext)', async (t) => {
  writeFileSync(join(consumer, 'types.mts'), `
import Fastify from 'fastify'
import limiter, { MemoryStore } from 'fastify-limiter'
import type { RouteRateLimit } from 'fastify-limiter'
const app = Fastify()
await app.register(limiter, { store: new MemoryStore(), headers: 'ietf' })
const limit: RouteRateLimit = { ip: '10/min' }
app.get('/', { config: { rateLimit: limit } }, async (request) => request.rateLimit?.remaining)
// @ts-expect-error not a rate
export const bad: RouteRateLimit = '10/minn'
`)
  writeFileSync(join(consumer, 'types.cts'), `
import Fastify = require('fastify')
import limiter = require('fastify-limiter')
const app = Fastify()
app.register(limiter.default, { global: '10/min' })
const decision: limiter.RateLimitDecision | undefined = undefined
export = { app, decision }
`)
  // what README promises CommonJS TypeScript: register the required module itself
  writeFileSync(join(consumer, 'register.cts'), `
import Fastify = require('fastify')
import limiter = require('fastify-limiter')
const app = Fastify()
app.register(limiter, { global: '1/min', store: new limiter.MemoryStore() })
app.register(async (instance) => {
  instance.get('/', async (request) => request.rateLimit?.remaining)
})
export function rejected () { // type-checked, never run
  // @ts-expect-error not an option
  app.register(limiter, { globl: '1/min' })
  // @ts-expect-error a namespace whose default is not a plugin
  app.register({ default: 1 })
}
app.ready().then(async () => {
  const codes = [(await app.inject('/')).statusCode, (await app.inject('/')).statusCode]
  console.log(JSON.stringify({ codes }))
  await app.close()
}, () => { process.exitCode = 1 })
`)
  const tsc = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), 'types.mts', 'types.cts'], { cwd: consumer })
  t.equal(tsc.out + tsc.err, '')
  t.equal(tsc.status, 0)

  // the .cts compiled by tsc runs: Node's require() of the package, Fastify's register of it
  const emit = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--strict', '--skipLibCheck',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--outDir', 'out',
    '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), 'register.cts'], { cwd: consumer })
  t.equal(emit.out + emit.err, '')
  const registered = run(process.execPath, [join('out', 'register.cjs')], { cwd: consumer })
  t.equal(registered.status, 0, registered.err)
  t.same(JSON.parse(registered.out), { codes: [200, 429] })
})

t.test('@arethetypeswrong/cli finds no problem (esm-only profile)', async (t) => {
  const attw = run(process.execPath, [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', 'esm-only', '--format', 'json'])
  t.equal(attw.status, 0, attw.out)
  // what the profile ignores, on purpose: CommonJS TypeScript under `module: node16` (no require()
  // of ES modules there; nodenext has it, see above) and node10 resolution of the subpath export
  const { problems } = JSON.parse(attw.out) as { problems: Record<string, Array<{ resolutionKind: string }>> }
  const kinds = Object.values(problems).flat().map((p) => p.resolutionKind)
  t.same([...new Set(kinds)].sort(), ['node10', 'node16-cjs'])
})
