// The docs cannot mislead: every ```ts block of README.md and of docs/*.md is type-checked as a
// reader would type-check it, and run where it can run here. The rules a block follows:
// - The reader's project: an empty folder outside this repository with the package as `npm pack`
//   ships it (built from the sources of this run), so `'fastify-limiter'` resolves through the
//   package's `exports` to its built .js and .d.ts; the packages a page imports (fastify, ioredis,
//   @fastify/swagger, ...) are linked from this repository's node_modules. Compiled `strict`,
//   `module: 'nodenext'`, as an ES module (test/support/doc-project.ts has the options).
// - Each block is a module of its own: a name a block uses, it imports or declares, except two
//   placeholders: `app`, a Fastify app with the plugin registered with its defaults (a block that
//   registers the plugin makes its own app), and `handler`, any route handler. A page whose blocks
//   use a placeholder names it in its prose (in backticks) before the first such block.
// - Blocks of one page share only what a project shares: module augmentations. A page whose
//   blocks read `request.user` shows the `declare module 'fastify'` that types it, in one of its
//   blocks, and every block of that page sees it; no block of another page does. (Pages that
//   import the same packages and declare the same augmentations, or none, share a tsc project,
//   where each sees exactly what it would see alone; one `tsc --build` checks every project.)
// - Each block is then compiled and imported (as tsc emits it, against the packed package), and
//   every Fastify app it creates is started, sent one request per route (each must answer below
//   500) and closed: so every option and route config the docs show passes the registration
//   checks. Not run: blocks that need a Redis server or write SQLite files (type-checked only),
//   and blocks marked `<!-- not-run -->` on the line before (a test suite, a server of the reader's).
// - Every fence of every page is closed and names its language (`text` for plain text): a fence
//   left open swallows the rest of the page, and a bare ``` is usually a stray closing fence.
// A failure names the page and line (`docs/api.md:12:5`).
// The relative links between the pages are checked too: the target file exists, and so does the
// heading an `#anchor` names.
import t from 'tap'
import { subscribe } from 'node:diagnostics_channel'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { fenceProblems, fences, placeholdersOf, prose, toModule } from '../support/doc-blocks.js'
import { groupPages, importedPackages, installPackage, typeCheck, writeProjects } from '../support/doc-project.js'
import { LimitObjectSchema, PluginOptionsSchema } from '../../lib/config/schema.js'

t.setTimeout(300_000)

const root = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')
/** README.md, then every page of docs/, by their path from the root. */
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]
const texts = new Map(pages.map((page) => [page, page === 'README.md' ? readme : readFileSync(join(root, page), 'utf8')]))

const blocks = pages.flatMap((page) => fences(texts.get(page) as string)
  .filter((fence) => fence.lang === 'ts' && fence.closed)
  .map((fence) => ({ ...fence, page, placeholders: placeholdersOf(fence.source) })))

t.test('every fence is closed and names its language', async (t) => {
  t.same(fenceProblems('page.md', 'a\n\n```ts\nx()\n```\n\n```\nrest of the page\n'), [
    'page.md:7: this fence is never closed: the rest of the page is code',
    'page.md:7: a fence without a language (a stray closing fence?): name one, `text` for plain text'
  ], 'a stray closing fence opens a block that swallows the rest')
  t.same(fenceProblems('page.md', 'Every ```` ```ts ```` block\n\n- item\n\n  ````md\n  ```ts\n  ```\n  ````\n'), [], 'inline code, nested and longer fences')
  for (const [page, text] of texts) t.same(fenceProblems(page, text), [], page)
})

t.test('the blocks are found, indented ones and markers too', async (t) => {
  t.ok(blocks.length >= 20, `${blocks.length} blocks`)
  t.ok(blocks.some((block) => block.page === 'README.md'), 'README.md has blocks')
  const sample = fences('a\n\n<!-- not-run -->\n```ts\nx()\n```\n- item\n\n  ```ts\n  y()\n  ```\n')
  t.same(sample.map(({ line, end, indent, source, notRun }) => ({ line, end, indent, source, notRun })), [
    { line: 4, end: 6, indent: 0, source: 'x()\n', notRun: true },
    { line: 9, end: 11, indent: 2, source: 'y()\n', notRun: false }
  ])
  t.equal(prose('a\n```ts\nx()\n```\nb\n```\nc'), 'a\n\n\n\nb\n\n', 'prose keeps the line numbers, a block left open runs to the end')
  t.same(placeholdersOf("app.get('/x', handler) // app"), ['app', 'handler'])
  t.same(placeholdersOf("const app = Fastify()\napp.get('/x', async (request, handler) => 'app')"), [], 'declared names and strings are not placeholders')
  t.equal(toModule('x()\n').split('\n')[1], 'x()', 'a module\'s line n is the block\'s line n - 1')
  const augment = "import 'fastify'\ndeclare module 'fastify' {\n  interface FastifyRequest { user: string }\n}\n"
  const sample2 = [
    { page: 'a.md', source: "import Fastify from 'fastify'\n" },
    { page: 'b.md', source: "import fastifyLimiter from 'fastify-limiter'\nimport Fastify from 'fastify'\n" },
    { page: 'c.md', source: augment },
    { page: 'd.md', source: "import { Redis } from 'ioredis'\n" },
    { page: 'e.md', source: augment },
    { page: 'f.md', source: "import 'fastify'\nrequest.user\n" }
  ].map((b) => ({ ...b, line: 1, indent: 0 }))
  t.same(groupPages(sample2).map((group) => group.map((b) => b.page)), [['a.md', 'f.md'], ['b.md'], ['c.md', 'e.md'], ['d.md']],
    'pages share a project only with pages that import the same packages and declare the same augmentations')
})

t.test('a page names the placeholders its blocks use before the first of them', async (t) => {
  for (const block of blocks) {
    const before = prose(texts.get(block.page) as string).split('\n').slice(0, block.line - 1).join('\n')
    for (const name of block.placeholders) t.ok(before.includes(`\`${name}\``), `${block.page}:${block.line} uses \`${name}\`: the page says what it is before`)
    if (block.placeholders.includes('app')) {
      const plugin = /^import\s+(\w+)[^\n]*from\s+'fastify-limiter'/m.exec(block.source)?.[1]
      t.notOk(plugin !== undefined && new RegExp(`\\bapp\\.register\\(\\s*${plugin}\\b`).test(block.source),
        `${block.page}:${block.line} registers the plugin on \`app\`, which has it already: make an app of its own`)
    }
  }
})

const work = mkdtempSync(join(tmpdir(), 'fastify-limiter-docs-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const project = join(work, 'project')
const written = writeProjects(project, groupPages(blocks), toModule)

t.test('every block type-checks in the reader\'s project', async (t) => {
  installPackage({ root, stage: join(work, 'stage'), project, imports: importedPackages(blocks.map((block) => block.source)) })
  const messages = typeCheck(root, project, written)
  for (const message of messages) t.fail(message)
  t.equal(messages.length, 0, 'tsc reports nothing')
})

/** The Fastify apps the blocks create, seen through Fastify's diagnostics channel, with their routes. */
const created: Array<{ app: FastifyInstance, routes: RouteOptions[] }> = []
subscribe('fastify.initialization', (message) => {
  const app = (message as { fastify: FastifyInstance }).fastify
  const entry = { app, routes: [] as RouteOptions[] }
  app.addHook('onRoute', (route) => { entry.routes.push(route) })
  // `listen({ port: 3000 })` in a block: any free port on loopback instead
  const listen = app.listen.bind(app) as (options: object) => Promise<string>
  Object.assign(app, { listen: async (options: object) => listen({ ...options, port: 0, host: '127.0.0.1' }) })
  created.push(entry)
})

const needsServer = /\bioredis\b|\bredis\s*:|RedisStore|SqliteStore|\bsqlite\s*:/

for (const { dir, name, block } of written.values()) {
  if (block.notRun || needsServer.test(block.source)) continue
  t.test(`${block.page}:${block.line} runs, and each of its routes answers`, async (t) => {
    created.length = 0
    await import(pathToFileURL(join(project, dir, 'out', name.replace(/\.ts$/, '.js'))).href)
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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

/** The anchors of a page's headings (outside code blocks). */
function anchors (text: string): Set<string> {
  return new Set([...prose(text).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])))
}

t.test('relative links between the pages reach a file, and a heading when they name one', async (t) => {
  t.equal(slug('fastify.rateLimit and request.rateLimit'), 'fastifyratelimit-and-requestratelimit')
  t.equal(slug('Who is counted: IP, user, key'), 'who-is-counted-ip-user-key')
  t.equal(slug('Migrating from @fastify/rate-limit'), 'migrating-from-fastifyrate-limit')
  let links = 0
  for (const [page, text] of texts) {
    for (const [, target] of prose(text).matchAll(/\]\(([^()\s]+)\)/g)) {
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
