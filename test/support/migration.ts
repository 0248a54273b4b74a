// The side-by-side examples of docs/migration.md, for test/plugin/migration.test.ts. A page states
// what an example does in a table of requests right after its code:
//
//   | request | @fastify/rate-limit | fastify-limiter |
//   |---|---|---|
//   | `GET /` ×3 | 200 | 200 |
//   | `GET /` | 429 `Retry-After: 60` | 429 `Retry-After: 72` |
//   | *52 s later* `GET /` | 429 | 200 |
//
// Each column but the first names a library; its code is the last block before the table (since
// the previous table) in that library's language: ```js for @fastify/rate-limit and
// express-rate-limit, ```ts for fastify-limiter. A request cell holds `METHOD /path`, headers as
// `name: value`, `from 192.0.2.1` for the client address, `×n` to send it n times, and
// `*n s later*` to move the clock first. An answer cell holds the status, `Name: value` for a
// header that must have that value (`Name: value…` for one that starts with it) and no `Name` for
// one that must be absent. A column whose
// library cannot run here (express-rate-limit needs express) is stated, not run: its block is
// marked `<!-- not-run -->`.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { fences } from './doc-blocks.js'
import type { Fence } from './doc-blocks.js'

const index = fileURLToPath(new URL('../../index.ts', import.meta.url))

/** One request of a table, sent `times` times after the clock moved by `laterMs`. */
export interface Step {
  line: number
  laterMs: number
  method: string
  url: string
  headers: Record<string, string>
  remoteAddress: string | undefined
  times: number
  /** What each library answers, by column name. */
  expect: Record<string, Expected>
}

/** An answer: its status, headers that must have a value, headers that must be absent. */
export interface Expected {
  status: number
  headers: Record<string, string>
  absent: string[]
}

/** A table and the code it describes, by column name. */
export interface Example {
  /** The table's first line on the page (1-based). */
  line: number
  /** The libraries of the table, in its column order. */
  columns: string[]
  code: Record<string, Fence>
  steps: Step[]
}

/** The language of each library's blocks. */
export const languages: Record<string, string> = {
  '@fastify/rate-limit': 'js',
  'express-rate-limit': 'js',
  'fastify-limiter': 'ts'
}

const cells = (row: string): string[] => row.trim().replace(/^\||\|$/g, '').split('|').map((cell) => cell.trim())

/** Parses an answer cell: `429 \`Retry-After: 60\` no \`X-RateLimit-Limit\``. */
export function parseExpected (cell: string, where: string): Expected {
  const status = /^(\d{3})\b/.exec(cell)
  if (status === null) throw new Error(`${where}: an answer starts with its status: ${cell}`)
  const absent = [...cell.matchAll(/\bno `([^`:]+)`/g)].map((m) => m[1].toLowerCase())
  const headers: Record<string, string> = {}
  for (const [, name, value] of cell.matchAll(/`([\w-]+): ([^`]*)`/g)) headers[name.toLowerCase()] = value
  return { status: Number(status[1]), headers, absent }
}

/** Parses a request cell: `*52 s later* \`GET /\` \`x-api-key: a\` from 192.0.2.1 ×3`. */
export function parseRequest (cell: string, where: string): Omit<Step, 'line' | 'expect'> {
  const request = /`([A-Z]+) (\/\S*)`/.exec(cell)
  if (request === null) throw new Error(`${where}: a request cell names \`METHOD /path\`: ${cell}`)
  const headers: Record<string, string> = {}
  for (const [, name, value] of cell.matchAll(/`([\w-]+): ([^`]*)`/g)) headers[name.toLowerCase()] = value
  return {
    laterMs: Number(/\*(\d+) s later\*/.exec(cell)?.[1] ?? 0) * 1000,
    method: request[1],
    url: request[2],
    headers,
    remoteAddress: /\bfrom ([\d.:a-f]+)/.exec(cell)?.[1],
    times: Number(/×(\d+)/.exec(cell)?.[1] ?? 1)
  }
}

/** Every example of `text`: each `| request | ... |` table with the blocks before it. */
export function examples (text: string, page: string): Example[] {
  const lines = text.split('\n')
  const blocks = fences(text)
  const found: Example[] = []
  let since = 0
  for (let i = 0; i < lines.length; i++) {
    if (!/^\| request \|/.test(lines[i]) || blocks.some((b) => b.line <= i + 1 && i + 1 <= b.end)) continue
    const columns = cells(lines[i]).slice(1)
    const code: Record<string, Fence> = {}
    for (const column of columns) {
      const lang = languages[column]
      if (lang === undefined) throw new Error(`${page}:${i + 1}: no library is called ${column}`)
      const block = blocks.filter((b) => b.line > since && b.end < i + 1 && b.lang === lang).at(-1)
      if (block === undefined) throw new Error(`${page}:${i + 1}: no \`\`\`${lang} block for ${column} before this table`)
      code[column] = block
    }
    const steps: Step[] = []
    let row = i + 2
    while (row < lines.length && lines[row].startsWith('|')) {
      const where = `${page}:${row + 1}`
      const [request, ...answers] = cells(lines[row])
      if (answers.length !== columns.length) throw new Error(`${where}: ${columns.length + 1} cells expected`)
      steps.push({
        line: row + 1,
        ...parseRequest(request, where),
        expect: Object.fromEntries(columns.map((column, c) => [column, parseExpected(answers[c], where)]))
      })
      row++
    }
    found.push({ line: i + 1, columns, code, steps })
    since = i + 1
    i = row
  }
  return found
}

/**
 * A block as a module file in `dir`, ready to import: TypeScript transpiled (as tsc would emit
 * it; test/plugin/readme.test.ts type-checks every ```ts block in a reader's project), and its
 * bare imports resolved from this repository, `'fastify-limiter'` being this repository's
 * index.ts. Returns the file's URL.
 */
export function moduleOf (block: Fence, dir: string, name: string): string {
  const js = block.lang === 'ts'
    ? ts.transpileModule(block.source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    : block.source
  const resolved = js.replace(/(\bfrom\s*|\bimport\s*\(\s*|^import\s+)'([^'./][^']*)'/gm, (all, lead: string, specifier: string) =>
    `${lead}'${specifier === 'fastify-limiter' ? pathToFileURL(index).href : import.meta.resolve(specifier)}'`)
  const file = join(dir, `${name}.mjs`)
  writeFileSync(file, resolved)
  return pathToFileURL(file).href
}

/** One row of the appendix: a case of @fastify/rate-limit's suite and what stands for it here. */
export interface CaseRow {
  file: string
  name: string
  here: string
}

/** The test cases of @fastify/rate-limit's suite (`test('name', ...)` and `it(...)`), by file from its test/. */
export function suiteCases (sources: Array<{ file: string, text: string }>): Array<Omit<CaseRow, 'here'>> {
  return sources.flatMap(({ file, text }) =>
    [...text.matchAll(/^\s*(?:test|it)\((['"`])(.*?)\1,/gm)].map((m) => ({ file, name: m[2] })))
}

/** The rows of the table under `heading` (`| file | case | here |`). */
export function caseRows (text: string, heading: string): CaseRow[] {
  const section = text.slice(text.indexOf(heading))
  return [...section.matchAll(/^\| ([\w/.-]+\.test\.js) \| (.+?) \| (.+) \|$/gm)]
    .map((m) => ({ file: m[1], name: m[2].replace(/\\\|/g, '|'), here: m[3] }))
}

/** The tests a cell names: `[label](../test/path.test.ts) *name*`. */
export function namedTests (cell: string): Array<{ path: string, name: string }> {
  return [...cell.matchAll(/\]\(\.\.\/(test\/[\w/.-]+\.test\.ts)\) \*([^*]+)\*/g)].map((m) => ({ path: m[1], name: m[2] }))
}
