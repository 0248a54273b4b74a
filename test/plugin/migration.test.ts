// docs/migration.md cannot drift from what the libraries do: each table of requests on the page is
// played against the code blocks before it, @fastify/rate-limit's (the real package) and
// fastify-limiter's (this repository), on the same clock, and every answer the table states is
// asserted. The page's format is in test/support/migration.ts.
import t from 'tap'
import type { Test } from 'tap'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { caseRows, examples, moduleOf, namedTests, parseExpected, parseRequest, suiteCases } from '../support/migration.js'
import type { Example, Expected } from '../support/migration.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const page = 'docs/migration.md'
const text = readFileSync(join(root, page), 'utf8')
const found = examples(text, page)
const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-migration-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

// 8 s into a minute: where fastify-limiter's sliding window and @fastify/rate-limit's window that
// starts at the first request differ most visibly ('3/min' waits 72 s here, at most 60 s there)
const start = 1_700_000_048_000

t.test('the page format: requests, answers, and what is wrong with a table', async (t) => {
  t.same(parseRequest('*52 s later* `POST /a?b=1` `x-api-key: k` from 192.0.2.1 ×3', 'p'),
    { laterMs: 52_000, method: 'POST', url: '/a?b=1', headers: { 'x-api-key': 'k' }, remoteAddress: '192.0.2.1', times: 3 })
  t.same(parseRequest('`GET /`', 'p'), { laterMs: 0, method: 'GET', url: '/', headers: {}, remoteAddress: undefined, times: 1 })
  t.same(parseExpected('429 `Retry-After: 60` no `X-RateLimit-Limit`', 'p'),
    { status: 429, headers: { 'retry-after': '60' }, absent: ['x-ratelimit-limit'] })
  t.throws(() => parseExpected('denied', 'p:3'), { message: 'p:3: an answer starts with its status: denied' })
  t.throws(() => parseRequest('GET /', 'p:4'), { message: 'p:4: a request cell names `METHOD /path`: GET /' })
  const table = '| request | fastify-limiter |\n|---|---|\n'
  t.throws(() => examples(`${table}| \`GET /\` | 200 |\n`, 'p'), { message: 'p:1: no ```ts block for fastify-limiter before this table' })
  t.throws(() => examples('| request | other |\n', 'p'), { message: 'p:1: no library is called other' })
  t.throws(() => examples(`\`\`\`ts\nx\n\`\`\`\n${table}| \`GET /\` | 200 | 200 |\n`, 'p'), { message: 'p:6: 2 cells expected' })
  const [one] = examples(`\`\`\`ts\nx\n\`\`\`\n\`\`\`md\n| request | x |\n\`\`\`\n${table}| \`GET /\` | 200 |\n`, 'p')
  t.equal(one.line, 7, 'a table inside a code block is not an example')
})

t.test('the page has its examples, and the ones that cannot run here are marked', async (t) => {
  t.ok(found.length >= 8, `${found.length} examples`)
  for (const example of found) {
    for (const column of example.columns) {
      t.equal(example.code[column].notRun, column === 'express-rate-limit', `${page}:${example.code[column].line}: ${column} runs unless it needs express`)
    }
  }
})

/** Imports a block and returns the one Fastify app it created, ready. */
async function load (example: Example, column: string): Promise<FastifyInstance> {
  const created: FastifyInstance[] = []
  const seen = (message: unknown) => { created.push((message as { fastify: FastifyInstance }).fastify) }
  subscribe('fastify.initialization', seen)
  try {
    const block = example.code[column]
    await import(moduleOf(block, dir, `${column.replace(/\W/g, '')}-${block.line}`))
  } finally {
    unsubscribe('fastify.initialization', seen)
  }
  if (created.length !== 1) throw new Error(`${page}:${example.code[column].line}: a block makes one app, this one made ${created.length}`)
  await created[0].ready()
  return created[0]
}

function check (t: Test, res: { statusCode: number, headers: Record<string, unknown> }, expected: Expected, what: string): void {
  t.equal(res.statusCode, expected.status, `${what}: status`)
  for (const [name, value] of Object.entries(expected.headers)) {
    const found = String(res.headers[name])
    if (value.endsWith('…')) t.equal(found.slice(0, value.length - 1), value.slice(0, -1), `${what}: ${name} starts so`)
    else t.equal(found, value, `${what}: ${name}`)
  }
  for (const name of expected.absent) t.notOk(name in res.headers, `${what}: no ${name}`)
}

for (const example of found) {
  const running = example.columns.filter((column) => !example.code[column].notRun)
  t.test(`${page}:${example.line}: ${running.join(' and ')} answer as the table says`, async (t) => {
    const clock = { now: start }
    const now = Date.now
    // one clock for both libraries: @fastify/rate-limit reads Date.now, and fastify-limiter's
    // store takes Date.now as its clock when it is made (inside the block, so after this line)
    Date.now = () => clock.now
    const apps: Array<[string, FastifyInstance]> = []
    t.teardown(async () => {
      Date.now = now
      for (const [, app] of apps) await app.close()
    })
    for (const column of running) apps.push([column, await load(example, column)])
    for (const step of example.steps) {
      clock.now += step.laterMs
      for (let n = 1; n <= step.times; n++) {
        for (const [column, app] of apps) {
          const res = await app.inject({ method: step.method as 'GET', url: step.url, headers: step.headers, remoteAddress: step.remoteAddress })
          check(t, res, step.expect[column], `${page}:${step.line} ${column}: ${step.method} ${step.url}${step.times > 1 ? ` #${n}` : ''}`)
        }
      }
    }
  })
}

t.test("the appendix has one row per case of @fastify/rate-limit's suite, and each names a test here or why not", async (t) => {
  const suite = join(root, 'node_modules', '@fastify', 'rate-limit', 'test')
  const files = readdirSync(suite, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.test.js')).sort()
  const cases = suiteCases(files.map((file) => ({ file, text: readFileSync(join(suite, file), 'utf8') })))
  t.ok(cases.length >= 100, `${cases.length} cases in the installed suite`)
  const rows = caseRows(text, '## Every @fastify/rate-limit test case')
  const key = (c: { file: string, name: string }) => `${c.file}: ${c.name}`
  t.same(rows.map(key).sort(), cases.map(key).sort(), 'the same cases, as often')
  for (const row of rows) {
    const named = namedTests(row.here)
    if (named.length === 0) t.match(row.here, /^Must not/, `${key(row)}: no test named, so a reason why not`)
    for (const { path, name } of named) {
      const source = readFileSync(join(root, path), 'utf8')
      t.ok(source.includes(name), `${key(row)}: ${path} has a test "${name}"`)
    }
  }
  t.same(suiteCases([{ file: 'a.test.js', text: "test('one', () => {})\n  it(\"two 'x'\", () => {})\n" }]),
    [{ file: 'a.test.js', name: 'one' }, { file: 'a.test.js', name: "two 'x'" }])
  t.same(namedTests('[a](../test/plugin/a.test.ts) *b c*; [d](../test/stores/d.test.ts) *e*'),
    [{ path: 'test/plugin/a.test.ts', name: 'b c' }, { path: 'test/stores/d.test.ts', name: 'e' }])
})
