import t from 'tap'
import type { Test } from 'tap'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BREAKER_FAILURES, BREAKER_MIN_CALLS, BREAKER_MS, Breaker } from '../../lib/request/breaker.js'
import { checkEdges, edges, renderBreaker } from '../../scripts/diagrams/breaker.js'
import { breakerFacts, inLifecycle, requestFacts, sources, stageComment } from '../../scripts/diagrams/facts.js'
import { drawDiagrams, writeDiagrams } from '../../scripts/diagrams/index.js'
import { checkPlacement, renderRequestFlow } from '../../scripts/diagrams/request-flow.js'
import { addedHooks, constantRun, fieldAssignments, stringUnion } from '../../scripts/diagrams/source.js'
import { xmlProblems } from '../support/xml.js'

// The pictures of the request path cannot rot: what is committed in docs/ is what
// `npm run docs:diagrams` draws from the code now, and a change of the code the pictures do not
// know of (a step, phase, outcome, hook, option or breaker transition) stops the script.

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(join(root, path), 'utf8')
const drawn = drawDiagrams(root)

/** A copy of the source files the pictures are drawn from, to change; `edit` rewrites one. */
function copy (t: Test): { dir: string, edit: (file: string, change: (source: string) => string) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-diagrams-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of Object.values(sources)) {
    mkdirSync(join(dir, dirname(file)), { recursive: true })
    cpSync(join(root, file), join(dir, file))
  }
  mkdirSync(join(dir, 'docs'))
  return {
    dir,
    edit (file, change) {
      const before = readFileSync(join(dir, file), 'utf8')
      const after = change(before)
      if (after === before) throw new Error(`the edit of ${file} changed nothing: the test is out of date`)
      writeFileSync(join(dir, file), after)
    }
  }
}

t.test('docs/request-flow.svg and docs/breaker.svg are what the code draws now (npm run docs:diagrams)', async (t) => {
  t.same(Object.keys(drawn), ['docs/request-flow.svg', 'docs/breaker.svg'])
  for (const [path, svg] of Object.entries(drawn)) t.equal(read(path), svg, path)
})

t.test('they are well-formed, self-contained SVG', async (t) => {
  for (const [path, svg] of Object.entries(drawn)) {
    t.same(xmlProblems(svg), [], `${path} is well-formed`)
    t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*viewBox="0 0 \d+ \d+"/, `${path} is an SVG with its size`)
    t.notMatch(svg, /<script|<image|<foreignObject|@import|@font-face|href=|url\((?!#head\))/, `${path} loads nothing`)
    t.match(svg, /@media \(prefers-color-scheme: dark\)/, `${path} has a dark palette`)
    t.match(svg, /<title>[^<]+<\/title>\n<desc>[^<]+<\/desc>/, `${path} has a title and a description for screen readers`)
  }
})

t.test('the well-formedness check finds what it is for', async (t) => {
  t.same(xmlProblems('<svg><g a="1" b="&amp;"><text>1 &lt; 2 &#38; &#x26;</text></g><!-- c --></svg>\n'), [])
  t.same(xmlProblems('<svg><g></svg>'), ['</svg> at 8 closes <g>', 'unclosed: svg'])
  t.same(xmlProblems('<svg></g>'), ['</g> at 5 closes <svg>'])
  t.same(xmlProblems('</svg>'), ['</svg> at 0 closes <nothing>', '0 root elements'])
  t.same(xmlProblems('<svg>1 < 2 & 3</svg>'), ['a bare < at 7', 'a bare & at 11'])
  t.same(xmlProblems('<svg a="&b"/>'), ['a bare & in the attributes of <svg> at 0'])
  t.same(xmlProblems('<svg a="1" a="2"/>'), ['an attribute twice in <svg> at 0'])
  t.same(xmlProblems('<svg/><svg/>'), ['2 root elements'])
  t.same(xmlProblems('x<svg/>y'), ['text outside the root at 0', 'text after the root'])
})

t.test('the facts are the code\'s', async (t) => {
  const f = requestFacts(root)
  t.same(f.stages.map((s) => s.name), ['RESOLVING', 'DECIDING', 'RESPONDING', 'ENDED'])
  t.same(f.stages.map((s) => s.file), [sources.resolve, sources.decide, sources.respond, sources.settle])
  t.match(f.stages[0].what, /^Stage 1, resolve: /)
  t.equal(f.steps[0].name, 'EXEMPT', 'resolve starts with the exemption')
  t.equal(f.phases[0].name, 'CLOCK', 'decide starts with the clock')
  t.equal(f.outcomes[0].name, 'UNDECIDED')
  t.same(f.hookChoices, ['onRequest', 'preValidation', 'preHandler'])
  t.same(f.defaults, { hook: 'onRequest', onStoreError: 'fallback', storeTimeoutMs: 100, statusCode: 429, banStatus: 403 })
  t.equal(f.settleEvent, 'close')
  t.same(f.hooks.map((h) => h.name).sort(), ['onClose', 'onReady', 'onReady', 'onRoute', 'preClose'])
  t.same(f.hooks.find((h) => h.name === 'onRoute')?.assigns, ['route[settings.hook]'], 'onRoute adds the hook the option names')
  t.ok(f.options.has('storeTimeoutMs') && f.options.has('concurrency'), 'plugin and route options')
  const b = breakerFacts(root)
  t.same(b.states, ['closed', 'open', 'half-open'])
  t.same(b.constants.map((c) => c.name), ['BREAKER_MS', 'BREAKER_FAILURES', 'BREAKER_WINDOW_MS', 'BREAKER_MIN_CALLS'], 'in source order')
  t.equal(b.constants[0].value, BREAKER_MS)
  t.match(b.constants[0].doc, /probe/)
})

t.test('the generator writes the two pictures and nothing else', async (t) => {
  const { dir } = copy(t)
  t.same(writeDiagrams(dir), ['docs/request-flow.svg', 'docs/breaker.svg'])
  for (const [path, svg] of Object.entries(drawn)) t.equal(readFileSync(join(dir, path), 'utf8'), svg, path)
})

t.test('a step moved changes the picture; a step, phase, outcome or hook it does not know stops it', async (t) => {
  const moved = copy(t)
  // the delay line before the concurrency slot
  moved.edit(sources.decide, (s) => s.replace('const SLOT = 1\nconst SLOT_SENT = 2\nconst LINE = 3', 'const LINE = 1\nconst SLOT = 2\nconst SLOT_SENT = 3'))
  const picture = drawDiagrams(moved.dir)['docs/request-flow.svg']
  t.not(picture, drawn['docs/request-flow.svg'])
  t.ok(picture.indexOf('>LINE<') < picture.indexOf('>SLOT<'), 'the line is drawn first')

  const cases: Array<[string, (s: string) => string, RegExp]> = [
    [sources.resolve, (s) => s.replace('const RESOLVED = 7', 'const RESOLVED = 7\nconst AUDIT = 8'), /the steps of lib\/request\/resolve\.ts: not drawn: AUDIT; update/],
    [sources.decide, (s) => s.replace('const CLOCK = 0\n', ''), /the phases of lib\/request\/decide\.ts: drawn but not in the code: CLOCK/],
    [sources.flow, (s) => s.replace('export const SLOTTED = 8', 'export const SLOTTED = 8\nexport const QUEUED = 9'), /the outcomes of lib\/request\/flow\.ts: not drawn: QUEUED/],
    [sources.flow, (s) => s.replace('export const ENDED = 3', 'export const ENDED = 3\nexport const ARCHIVED = 4'), /stage ARCHIVED has no module/],
    [sources.plugin, (s) => s.replace("fastify.addHook('preClose'", "fastify.addHook('onTimeout', () => {})\n  fastify.addHook('preClose'"), /the hooks index\.ts adds: not drawn: onTimeout x1/],
    [sources.plugin, (s) => s.replace(/\n {2}if \(docs !== undefined\) fastify\.addHook\('onReady'.*\n/, '\n'), /not drawn: onReady x1; drawn but not in the code: onReady x2/],
    [sources.plugin, (s) => s.replace('const READY_WAIT_MS', 'const READY_MS'), /index\.ts: no constant READY_WAIT_MS/],
    [sources.settle, (s) => s.replace("reply.raw.once('close',", 'reply.raw.once(close,'), /settle\.ts: listens to no event/],
    [sources.respond, (s) => s.replace('Stage 3, respond', 'Respond'), /respond\.ts: no comment starting 'Stage 3,'/],
    [sources.breaker, (s) => s.replace("this.#state = 'half-open'", "this.#state = 'closed'"), /sets #state by admit\(\) -> 'closed'.*: update scripts\/diagrams\/breaker\.ts/],
    [sources.breaker, (s) => s.replace("'closed' | 'open' | 'half-open'", "'closed' | 'open' | 'half-open' | 'forced-open'"), /the states are closed, forced-open, half-open, open/]
  ]
  for (const [file, change, error] of cases) {
    const changed = copy(t)
    changed.edit(file, change)
    t.throws(() => drawDiagrams(changed.dir), error, `${file}: ${error.source}`)
  }
})

t.test('a constant or an outcome without a doc comment is drawn all the same', async (t) => {
  const f = requestFacts(root)
  const flow = renderRequestFlow({ ...f, outcomes: f.outcomes.map((o) => ({ ...o, doc: undefined })) })
  t.match(flow, />FAILED<\/text>/)
  t.notMatch(flow, /A function of the user failed/)
  const b = breakerFacts(root)
  t.match(renderBreaker({ ...b, constants: [...b.constants, { name: 'BREAKER_X', value: 7, doc: undefined }] }), />BREAKER_X = 7</)
})

t.test('every option is placed, and only options', async (t) => {
  const f = requestFacts(root)
  t.ok(checkPlacement(f).length > 30)
  t.throws(() => checkPlacement({ ...f, options: new Set([...f.options, 'jitter']) }), /the options the picture places: not drawn: jitter; update/)
  t.throws(() => checkPlacement({ ...f, options: new Set([...f.options].filter((o) => o !== 'leaseMs')) }), /drawn but not in the code: leaseMs/)
})

t.test('the readers refuse a source they cannot read', async (t) => {
  t.throws(() => constantRun('a.ts', 'const A = 0\nconst B = 1', 'C'), /a\.ts: no numbered constant C/)
  t.throws(() => constantRun('a.ts', 'const A = 1\nconst B = 2', 'B'), /not numbered 0, 1, 2/)
  t.throws(() => constantRun('a.ts', 'const A = 0\nconst B = 2', 'B'), /not numbered 0, 1, 2/)
  t.same(constantRun('a.ts', 'let X = 0\nexport const A = 0\nconst B = 1, C = 2, D = f\nconst E = 0', 'C').map((c) => c.name), ['A', 'B', 'C'])
  t.same(constantRun('a.ts', '/** @internal */\nconst A = 0', 'A').map((c) => c.doc), [''], 'a doc comment of tags alone')
  t.same(stringUnion('a.ts', "type S = 'one'", 'S'), ['one'])
  t.throws(() => stringUnion('a.ts', "type S = 'a' | number", 'S'), /type S is not a union of string literals/)
  t.throws(() => stringUnion('a.ts', 'interface S {}', 'S'), /a\.ts: no type S/)
  t.throws(() => fieldAssignments('a.ts', 'class A { m () { this.s = next } }', 's'), /assigned something else than a literal/)
  t.throws(() => fieldAssignments('a.ts', "class A { s = 'a'; f = () => { this.s = 'b' } }", 's'), /assigned outside a method/)
  t.same(fieldAssignments('a.ts', "class A { get g () { this.s = 'b'; that.s = 'c'; this.t = 'd'; this.s += 'e'; return 1 } }", 's'), [{ method: 'g', value: 'b' }])
  t.throws(() => addedHooks('a.ts', 'app.addHook(name, () => {})'), /an addHook call without a hook name and a function/)
  t.throws(() => addedHooks('a.ts', "app.addHook('onClose', handler)"), /an addHook call without a hook name and a function/)
  t.same(addedHooks('a.ts', "app.addHook('onClose', async function () { if (a) { done(); x.log.info(); y?.z() } else w() })"),
    [{ name: 'onClose', when: undefined, calls: ['y.z() if a', 'w()'], assigns: [] }])
  t.throws(() => stageComment('a.ts', '/** Stage 2, b. */', 1), /no comment starting 'Stage 1,'/)
  t.throws(() => inLifecycle(['preHandler', 'onRequest']), /not hooks of Fastify's lifecycle in its order/)
  t.throws(() => inLifecycle(['onTimeout']), /not hooks of Fastify's lifecycle/)
})

t.test('every transition drawn is one a Breaker makes, and it makes no other', async (t) => {
  const f = breakerFacts(root)
  const drawnEdges = edges(f)
  // the breaker in each state, on an injected clock
  const at = (state: string): { breaker: Breaker, advance: (ms: number) => void } => {
    let now = 1_700_000_000_000
    const breaker = new Breaker(() => now)
    if (state !== 'closed') breaker.failed(true)
    if (state === 'half-open') {
      now += BREAKER_MS
      breaker.admit()
    }
    t.equal(breaker.state, state)
    return { breaker, advance: (ms) => { now += ms } }
  }
  const events: Array<[string, 'admit' | 'succeeded' | 'failed', (b: Breaker, advance: (ms: number) => void) => void]> = [
    ['a call asks', 'admit', (b) => b.admit()],
    [`a call asks after ${BREAKER_MS} ms`, 'admit', (b, advance) => { advance(BREAKER_MS); b.admit() }],
    ['a call answers', 'succeeded', (b) => b.succeeded()],
    ['a call fails', 'failed', (b) => b.failed(false)],
    ['a call fails after holding the loop', 'failed', (b) => b.failed(true)],
    [`${BREAKER_FAILURES} calls fail in a row`, 'failed', (b) => { for (let i = 0; i < BREAKER_FAILURES; i++) b.failed(false) }],
    [`half of ${BREAKER_MIN_CALLS} calls fail`, 'failed', (b) => { for (let i = 0; i < BREAKER_MIN_CALLS / 2; i++) { b.succeeded(); b.failed(false) } }]
  ]
  const seen = new Set<string>()
  for (const state of f.states) {
    for (const [what, method, event] of events) {
      const { breaker, advance } = at(state)
      event(breaker, advance)
      if (breaker.state === state) continue
      const edge = `${state} -> ${breaker.state} by ${method}()`
      seen.add(edge)
      t.ok(drawnEdges.some((e) => `${e.from} -> ${e.to} by ${e.method}()` === edge), `${state}, ${what}: ${edge} is drawn`)
    }
  }
  t.same([...seen].sort(), drawnEdges.filter((e) => e.from !== e.to).map((e) => `${e.from} -> ${e.to} by ${e.method}()`).sort(), 'every change drawn happens')
  // open -> open: a late failure starts the open time again
  const { breaker, advance } = at('open')
  advance(BREAKER_MS - 1)
  breaker.failed(false)
  advance(1)
  t.equal(breaker.admit(), false, 'still open a full BREAKER_MS after the late failure')
  t.ok(drawnEdges.some((e) => e.from === 'open' && e.to === 'open' && e.method === 'failed'), 'and that is drawn')

  t.throws(() => edges({ ...f, constants: f.constants.filter((c) => c.name !== 'BREAKER_MS') }), /no constant BREAKER_MS/)
  t.throws(() => checkEdges({ ...f, states: ['closed', 'open'] }, drawnEdges), /the states are closed, open;/)
})
