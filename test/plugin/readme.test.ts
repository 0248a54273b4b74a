// Every ```ts block of README.md and of docs/*.md is compiled and, where it can run here, run, so
// that the docs cannot rot:
// - Each block becomes a module. 'fastify-limiter' (and '/test-suite') import the sources; the names a
//   fragment uses without declaring them are given by a prelude: `Fastify`, `fastifyLimiter` and the
//   stores are imported, `handler` is a small handler, and `app` is a Fastify app with the plugin
//   registered (or without it, when the block registers the plugin itself).
// - All blocks are type-checked together by tsc, against the package's own types.
// - Each block is then imported and every Fastify app it created is started, sent one request per
//   route (each must answer below 500) and closed; so every route config and option in the docs
//   passes the registration checks. Not run: blocks that need a Redis server or write SQLite
//   files (type-checked only), and blocks marked `<!-- not-run -->` because they use a name that
//   only exists in the reader's app (a `request`, a custom store class).
// A failure names the page and the line of the block: the module of each block is named after them
// (`docs-stores.md-line-40.ts`), and so is its test.
// The relative links between the pages are checked too: the target file exists, and so does the
// heading an `#anchor` names.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { created } from '../support/fixtures/readme-fastify.js'
import { LimitObjectSchema, PluginOptionsSchema } from '../../lib/config/schema.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')
/** README.md, then every page of docs/, by their path from the root. */
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]
const texts = new Map(pages.map((page) => [page, page === 'README.md' ? readme : readFileSync(join(root, page), 'utf8')]))

interface Block {
  line: number
  source: string
  notRun: boolean
}

/** The ```ts blocks, dedented, with their README line and whether a `<!-- not-run -->` precedes them. */
export function extractBlocks (text: string): Block[] {
  const blocks: Block[] = []
  const fence = /^([ \t]*)```ts[ \t]*\n([\s\S]*?)^\1```[ \t]*$/gm
  for (const match of text.matchAll(fence)) {
    const before = text.slice(0, match.index).trimEnd().split('\n').pop() as string
    const indent = match[1].length
    blocks.push({
      line: text.slice(0, match.index).split('\n').length,
      source: match[2].split('\n').map((l) => l.slice(indent)).join('\n'),
      notRun: before.trim() === '<!-- not-run -->'
    })
  }
  return blocks
}

const needsServer = /\bioredis\b|\bredis\s*:|RedisStore|SqliteStore|\bsqlite\s*:/

/** The code without `//` comments (a `//` after a colon or quote is a URL, kept). */
const code = (source: string) => source.replace(/(?<![:'"\w])\/\/.*$/gm, '')

const uses = (source: string, name: string) => new RegExp(`(?<![\\w$.'"])${name}\\b`).test(code(source))

/** Parameter names of the arrow functions and functions in `source`. */
function parameters (source: string): Set<string> {
  const names = new Set<string>()
  for (const m of source.matchAll(/\(([^()]*)\)\s*(?::\s*[\w<>[\]|, ]+)?\s*=>|\bfunction\b[^(]*\(([^()]*)\)|\b([A-Za-z_$][\w$]*)\s*=>/g)) {
    for (const part of (m[1] ?? m[2] ?? m[3]).split(',')) {
      const name = /^\s*(?:\.\.\.)?([A-Za-z_$][\w$]*)/.exec(part)
      if (name !== null) names.add(name[1])
    }
  }
  return names
}

const declares = (source: string, name: string) => parameters(source).has(name) ||
  new RegExp(`\\b(?:const|let|var|function|class)\\s+${name}\\b|^import\\s[^\\n]*\\b${name}\\b[^\\n]*\\bfrom\\b`, 'm').test(source)

/** Turns a block into a module; `declared` lists the names only declared (they do not exist at run time). */
export function toModule (source: string): { code: string, declared: string[] } {
  const body = source
    .replace(/^import Fastify from 'fastify'$/m, "import Fastify from '../support/fixtures/readme-fastify.js'")
    .replace(/'fastify-limiter\/test-suite'/g, "'../../stores/conformance.js'")
    .replace(/'fastify-limiter'/g, "'../../index.js'")
    .replace(/\.listen\(\{ port: \d+ \}\)/g, ".listen({ port: 0, host: '127.0.0.1' })")
  const missing = (name: string) => uses(source, name) && !declares(source, name)
  const prelude: string[] = []
  const declared: string[] = []
  if (missing('Fastify') || missing('app')) prelude.push("import Fastify from '../support/fixtures/readme-fastify.js'")
  if (missing('fastifyLimiter') || missing('app')) prelude.push("import fastifyLimiter from '../../index.js'")
  const stores = ['MemoryStore'].filter(missing)
  if (stores.length > 0) prelude.push(`import { ${stores.join(', ')} } from '../../index.js'`)
  if (missing('request')) prelude.push("import type { FastifyRequest } from 'fastify'")
  if (missing('app')) {
    prelude.push('const app = Fastify()')
    if (!/register\(fastifyLimiter\b/.test(source)) prelude.push('await app.register(fastifyLimiter)')
  }
  if (missing('handler')) prelude.push('const handler = async () => ({ ok: true })')
  if (missing('request')) {
    prelude.push('declare const request: FastifyRequest')
    declared.push('request')
  }
  if (missing('MyStore')) {
    prelude.push("import { MemoryStore as ExampleStore } from '../../index.js'", 'declare class MyStore extends ExampleStore {}')
    declared.push('MyStore')
  }
  return { code: `${prelude.join('\n')}\n${body}\nexport {}\n`, declared }
}

const blocks = pages.flatMap((page) => extractBlocks(texts.get(page) as string).map((block) => ({ ...block, page })))
const dir = mkdtempSync(join(root, 'test', '.readme-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const modules = blocks.map((block) => {
  const { code, declared } = toModule(block.source)
  const file = join(dir, `${block.page.replace('/', '-')}-line-${block.line}.ts`)
  writeFileSync(file, code)
  return { ...block, file, declared }
})
// What an auth plugin would declare (`request.user`), for the blocks that read it.
writeFileSync(join(dir, 'auth.d.ts'), "import 'fastify'\ndeclare module 'fastify' {\n  interface FastifyRequest { user?: { id?: string | number, sub?: string } | null }\n}\n")
writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
  extends: '../../tsconfig.json',
  compilerOptions: { noEmit: true, declaration: false, declarationMap: false, sourceMap: false },
  include: ['*.ts'],
  exclude: [] // the root config excludes these folders from the project's own type check
}))

t.test('the README and docs/ have code blocks, and the extraction finds indented ones and markers', async (t) => {
  t.ok(blocks.length >= 20, `${blocks.length} blocks`)
  t.ok(pages.length > 1, `${pages.join(', ')}`)
  t.ok(blocks.some((block) => block.page === 'README.md'), 'README.md has blocks')
  const sample = extractBlocks('a\n\n<!-- not-run -->\n```ts\nx()\n```\n- item\n\n  ```ts\n  y()\n  ```\n')
  t.same(sample, [{ line: 4, source: 'x()\n', notRun: true }, { line: 9, source: 'y()\n', notRun: false }])
  const fragment = toModule("app.get('/x', handler)")
  t.match(fragment.code, /const app = Fastify\(\)\nawait app.register\(fastifyLimiter\)\nconst handler/)
  const own = toModule("import Fastify from 'fastify'\nimport fastifyLimiter from 'fastify-limiter'\nconst app = Fastify()\nawait app.register(fastifyLimiter)\nawait app.listen({ port: 3000 })")
  t.notMatch(own.code, /^const app = Fastify\(\)\nawait app.register\(fastifyLimiter\)\nconst app/m)
  t.match(own.code, /listen\(\{ port: 0, host: '127\.0\.0\.1' \}\)/)
  t.same(toModule('app.rateLimit.reset(request)').declared, ['request'])
  t.same(toModule('// request.ip is the client\nconst f = (request: unknown, reply) => request\nfunction g (request) { return request }').declared, [], 'parameters and comments are not free names')
})

t.test('the plugin options table has a row for every option, and no other', async (t) => {
  const section = readme.slice(readme.indexOf('## Plugin options'), readme.indexOf('## Route limits'))
  const rows = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort()
  t.same(rows, Object.keys(PluginOptionsSchema.properties).sort())
})

t.test('the route limit table has a row for every field of config.rateLimit, and no other', async (t) => {
  const table = readme.slice(readme.indexOf('| field | what it does |'), readme.indexOf('## Rate strings'))
  const rows = [...table.matchAll(/^\| `(\w+)`(?: \+ `(\w+)`)? \|/gm)].flatMap((m) => m.slice(1).filter(Boolean)).sort()
  t.same(rows, Object.keys(LimitObjectSchema.properties).sort())
})

t.test('every block type-checks against the package', async (t) => {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' })
  t.equal(tsc.stdout + tsc.stderr, '', 'tsc reports nothing (file names give the page and line)')
  t.equal(tsc.status, 0)
})

for (const block of modules) {
  const skip = block.notRun ? 'marked <!-- not-run -->' : needsServer.test(block.source) ? 'needs Redis or writes SQLite files' : undefined
  if (skip !== undefined) continue
  t.test(`${block.page} line ${block.line} runs, and each of its routes answers`, async (t) => {
    t.same(block.declared, [], 'uses no name that only exists in the reader\'s app (else mark it <!-- not-run -->)')
    created.length = 0
    await import(pathToFileURL(block.file).href)
    for (const { app, routes } of created.splice(0)) {
      await app.ready()
      for (const route of routes) {
        const method = ([] as string[]).concat(route.method)[0]
        if (method === 'HEAD') continue
        const url = route.url.replace(/:\w+/g, '1').replace('*', 'x')
        const res = await app.inject({ method: method as 'GET', url })
        t.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.statusCode >= 500 ? res.body : ''}`)
      }
      await app.close()
    }
  })
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

/** The anchors of a page's headings (outside code blocks). */
function anchors (text: string): Set<string> {
  const prose = text.replace(/^([ \t]*)```[\s\S]*?^\1```/gm, '')
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])))
}

t.test('relative links between the pages reach a file, and a heading when they name one', async (t) => {
  t.equal(slug('fastify.rateLimit and request.rateLimit'), 'fastifyratelimit-and-requestratelimit')
  t.equal(slug('Who is counted: IP, user, key'), 'who-is-counted-ip-user-key')
  t.equal(slug('Migrating from @fastify/rate-limit'), 'migrating-from-fastifyrate-limit')
  let links = 0
  for (const [page, text] of texts) {
    const prose = text.replace(/^([ \t]*)```[\s\S]*?^\1```/gm, '')
    for (const [, target] of prose.matchAll(/\]\(([^()\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue // https:, mailto:
      links++
      const [path, anchor] = target.split('#')
      const file = path === '' ? join(root, page) : join(root, dirname(page), path)
      if (!existsSync(file)) {
        t.fail(`${page}: ${target}: no such file`)
        continue
      }
      if (anchor !== undefined) {
        const ok = anchors(readFileSync(file, 'utf8')).has(anchor)
        t.ok(ok, `${page}: ${target}`)
      }
    }
  }
  t.ok(links > 20, `${links} relative links`)
})

t.test('the README links every page of docs/', async (t) => {
  for (const page of pages.filter((p) => p.startsWith('docs/') && p !== 'docs/algorithms-table.md')) {
    t.ok(readme.includes(`](${page})`) || readme.includes(`](${page}#`), page)
  }
})
