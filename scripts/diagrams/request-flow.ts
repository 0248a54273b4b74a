import { lifecycle, sources } from './facts.js'
import type { RequestFacts } from './facts.js'
import { Canvas, wrap } from './svg.js'
import type { Tone } from './svg.js'

/**
 * docs/request-flow.svg: a request's way through the plugin. The hooks, stages, steps, phases
 * and outcomes come from the code (facts.ts); what this file adds is what the code says in
 * branches rather than names: a short note per step and which options act there. Those notes
 * are keyed by the code's own names, and `checkPlacement` refuses a picture whose keys differ
 * from the code's names or whose options are not the schemas' (or leave one out), so a new
 * step, phase, outcome, hook or option stops `npm run docs:diagrams` until it is placed.
 */

/** What happens at one place of the way, and the options that act there. */
export interface Acts {
  readonly note: string
  readonly options: readonly string[]
}

/** The plugin function itself, before any hook: `app.register(fastifyLimiter, options)`. */
const registration: Acts = {
  note: 'the options checked and resolved once; the store made (or yours taken); the global limit compiled; the counters exposed',
  options: ['store', 'sqlite', 'redis', 'metrics']
}

/** The hooks index.ts adds, by name, in the order it adds those of one name. */
function hookActs (f: RequestFacts): Record<string, readonly Acts[]> {
  return {
    onRoute: [{
      note: "the route's config.rateLimit checked and compiled once (rates, algorithm, keys, headers), or the global limit taken when it has none; the limit's hook appended to the route's own hooks of the kind the hook option names",
      options: ['global', 'algorithm', 'burst', 'group', 'keyPrefix', 'hook']
    }],
    onReady: [
      { note: "the limited routes' 429 response and headers written into the OpenAPI document (@fastify/swagger)", options: ['openapi'] },
      { note: `a store that connects (Redis) is waited for, at most ${f.readyWaitMs} ms; until then requests follow onStoreError`, options: ['redis'] }
    ],
    preClose: [{ note: 'requests waiting in the delay line are decided at once, before the server waits for its requests', options: ['delay'] }],
    onClose: [{ note: "the same (inject() has no preClose); the fallback store's timer stopped; the metrics removed; a store the plugin made is closed", options: ['metrics'] }]
  }
}

/** Stage 1: resolve.ts's steps. */
const stepActs: Record<string, Acts> = {
  EXEMPT: { note: "an exempt request (the limit's list or function, else the plugin's) is not limited: NOT_LIMITED, no headers", options: ['exempt'] },
  KEY: { note: "the limit's key function, else the plugin's (key: false: none): a key bucket", options: ['key'] },
  KEY_RATE: { note: "the key's rates (the limit's, else the plugin's), when a function decides them", options: ['rate'] },
  USER: { note: "the user resolver: a user bucket, when the route has user rates (or a user's slot)", options: ['user'] },
  USER_RATE: { note: "the user's rates, when a function decides them", options: ['user'] },
  IP: { note: "request.ip's bucket, unless a kind counted the request already (apply: 'all': every kind counts)", options: ['ip', 'ipv6Subnet', 'apply'] },
  COST: { note: 'the units to charge; an uncountable cost is charged 1, then the request FAILED', options: ['cost'] },
  RESOLVED: { note: 'the concurrency slot to ask for; no bucket and no slot: NOT_LIMITED', options: ['concurrency'] }
}

/** Stage 2: decide.ts's phases (a `_SENT` phase waits for the store's answer to the phase before it). */
function phaseActs (f: RequestFacts): Record<string, Acts> {
  return {
    CLOCK: { note: "the decision's time; a clock reading that is not epoch ms is a store error", options: ['clock'] },
    SLOT: { note: 'a concurrency slot first, so that a refused request charges no rate: all taken, SLOTS_FULL', options: ['concurrency', 'leaseMs'] },
    SLOT_SENT: { note: "waits for the store's grant", options: [] },
    LINE: { note: 'waits behind the waiting requests of the same identity, in arrival order', options: ['delay'] },
    STORE: {
      note: `a remembered denial, else the breaker, else one atomic consume of every bucket; a store that fails or takes longer than storeTimeoutMs (${f.defaults.storeTimeoutMs} ms): onStoreError ('${f.defaults.onStoreError}': a local memory store decides; 'allow': LET_THROUGH; 'deny': UNAVAILABLE)`,
      options: ['store', 'sqlite', 'redis', 'storeTimeoutMs', 'onStoreError']
    },
    STORE_SENT: { note: "waits for the store's answer", options: [] },
    ANSWERED: { note: 'a denial may wait and be decided again from CLOCK (delay.maxMs, queue); a dry run is not blocked', options: ['delay', 'dryRun'] },
    STRIKE: { note: "a denial counts towards a ban (a ban's gate that denies: banned already; with ban.extend, it starts the ban again)", options: ['ban'] },
    STRIKE_SENT: { note: "waits for the strike's answer", options: [] },
    GATES_SENT: { note: "peek() only: whether a ban stands behind a rate's denial", options: [] }
  }
}

/** What the client gets. */
export interface Badge {
  readonly label: string
  readonly tone: Tone
}

/** Stage 3: respond.ts, by outcome (flow.ts; UNDECIDED, numbered 0, is no outcome). */
function outcomeActs (f: RequestFacts): Record<string, Acts & { readonly results: readonly Badge[] }> {
  const pass: Badge = { label: 'pass', tone: 'pass' }
  return {
    NOT_LIMITED: { note: '', options: [], results: [pass] },
    DECIDED: {
      note: "Allowed (onExceeding), or denied in a dry run: passes, with headers. Denied: statusCode (429), or the ban's status when banned, with deniedHeaders.",
      options: ['headers', 'deniedHeaders', 'statusCode', 'errorFormat', 'errorResponseBuilder', 'onExceeding', 'onExceeded', 'onBan', 'dryRun', 'log'],
      results: [pass, { label: `${f.defaults.statusCode} + Retry-After`, tone: 'deny' }, { label: `${f.defaults.banStatus} banned (ban.statusCode)`, tone: 'stop' }]
    },
    SLOTS_FULL: { note: '', options: ['statusCode', 'deniedHeaders', 'errorResponseBuilder', 'onExceeded'], results: [{ label: `${f.defaults.statusCode} + Retry-After: ${f.slotRetryS}`, tone: 'deny' }] },
    LET_THROUGH: { note: '', options: ['onStoreError'], results: [pass] },
    UNAVAILABLE: { note: '', options: ['onStoreError'], results: [{ label: `503 + Retry-After: ${f.unavailableRetryS}`, tone: 'stop' }] },
    FAILED: { note: "The error goes to Fastify's error handler.", options: [], results: [{ label: '500', tone: 'stop' }] },
    DROPPED: { note: '', options: [], results: [{ label: 'nothing sent', tone: 'quiet' }] },
    SLOTTED: { note: '', options: ['concurrency'], results: [pass] }
  }
}

/** Stage 4: settle.ts, after the response. */
const settleActs: Record<string, Acts> = {
  slot: { note: 'the concurrency slot given back, once, however the request ended', options: ['concurrency'] },
  count: { note: "the charge refunded when the response should not count ('failed', 'successful' or a function)", options: ['count'] },
  settle: { note: 'the charge replaced by the cost known now (more: debt; less: refunded), once', options: ['settle'] }
}

/**
 * Every place of the picture and the options that act there, checked against the code: the
 * maps' keys are the code's names, and the options are exactly the schemas' names.
 */
export function checkPlacement (f: RequestFacts): Array<readonly [string, Acts]> {
  const hooks = hookActs(f)
  const added = new Map<string, number>()
  for (const hook of f.hooks) added.set(hook.name, (added.get(hook.name) ?? 0) + 1)
  same('the hooks index.ts adds', [...added].map(([name, n]) => `${name} x${n}`), Object.entries(hooks).map(([name, acts]) => `${name} x${acts.length}`))
  same(`the steps of ${sources.resolve}`, f.steps.map((s) => s.name), Object.keys(stepActs))
  const phases = phaseActs(f)
  same(`the phases of ${sources.decide}`, f.phases.map((s) => s.name), Object.keys(phases))
  const outcomes = outcomeActs(f)
  same(`the outcomes of ${sources.flow}`, f.outcomes.slice(1).map((s) => s.name), Object.keys(outcomes))
  const placed: Array<readonly [string, Acts]> = [
    ['register', registration],
    ...Object.entries(hooks).flatMap(([name, acts]) => acts.map((a) => [name, a] as const)),
    ...Object.entries(stepActs), ...Object.entries(phases), ...Object.entries(outcomes), ...Object.entries(settleActs)
  ]
  const named = new Set(placed.flatMap(([, a]) => a.options))
  same('the options the picture places', [...f.options], [...named])
  return placed
}

/** Throws unless the two lists hold the same names (the order does not matter). */
function same (what: string, code: readonly string[], drawn: readonly string[]): void {
  const missing = code.filter((n) => !drawn.includes(n))
  const extra = drawn.filter((n) => !code.includes(n))
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`${what}: ${[missing.length > 0 ? `not drawn: ${missing.join(', ')}` : '', extra.length > 0 ? `drawn but not in the code: ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}; update scripts/diagrams/request-flow.ts`)
  }
}

// ---------------------------------------------------------------- layout

const W = 1180
const lane = { x: 20, w: 236 }
const right = { x: 290, w: W - 290 - 20 }
const col = { name: right.x + 12, note: right.x + 176, noteW: 470, opts: right.x + 666, optsW: right.w - 666 - 12 }
const LEAD = 15

/**
 * One row of the right side: a name, a note, the results, the options; returns its height. A row
 * without a name (beside a hook of the left lane, which names it) gives its room to the note.
 */
function row (c: Canvas, y: number, name: string, acts: Acts, results: readonly Badge[] = []): number {
  const noteX = name === '' ? col.name : col.note
  const note = wrap(acts.note, col.noteW + col.note - noteX, 12)
  const opts = wrap(acts.options.join(', '), col.optsW, 11.5, true)
  let below = y + 2
  for (const badge of results) {
    c.box(col.opts, below, Math.round(badge.label.length * 6.4 + 14), 18, badge.tone)
    c.text(col.opts + 7, below + 13, badge.label, { size: 11.5 })
    below += 22
  }
  c.text(col.name, y + 14, name, { mono: true, bold: true, size: 11.5 })
  const noteEnd = c.lines(noteX, y + 14, note, { lead: LEAD })
  const optsEnd = c.lines(col.opts, below + 12, opts, { mono: true, bold: true, size: 11.5, lead: LEAD })
  return Math.max(noteEnd, opts.length > 0 ? optsEnd : below + 12) - LEAD + 10 - y
}

/** A box of the left lane: a hook's name, and what index.ts says of it in small print. */
function laneBox (c: Canvas, y: number, name: string, tone: Tone, small: readonly string[] = []): number {
  const lines = small.flatMap((s) => wrap(s, lane.w - 16, 10.5, true))
  const height = 26 + lines.length * 13
  c.box(lane.x, y, lane.w, height, tone)
  c.text(lane.x + 8, y + 17, name, { mono: true, bold: true })
  c.lines(lane.x + 8, y + 32, lines, { mono: true, size: 10.5, muted: true, lead: 13 })
  return height
}

function heading (c: Canvas, y: number, text: string): number {
  c.text(lane.x, y + 14, text, { size: 14, bold: true })
  c.arrow([[lane.x, y + 22], [W - 20, y + 22]], false, true)
  return 32
}

export function renderRequestFlow (f: RequestFacts): string {
  const placed = checkPlacement(f)
  const acts = (name: string, i = 0): Acts => placed.filter(([n]) => n === name)[i][1]
  const c = new Canvas()
  c.text(lane.x, 28, "How a request is decided: fastify-limiter's hooks and the four stages of lib/request", { size: 17, bold: true })
  c.text(lane.x, 48, 'Drawn by scripts/request-diagrams.ts (npm run docs:diagrams) from index.ts, lib/request/flow.ts, resolve.ts, decide.ts, respond.ts,', { size: 11.5, muted: true })
  c.text(lane.x, 63, 'settle.ts and the option schemas. Left: Fastify. Right: what the plugin does there. Bold monospace: the options that act there.', { size: 11.5, muted: true })
  let y = 78

  // ---- at startup: the plugin function, then the hooks index.ts adds (closing ones come last)
  y += heading(c, y, 'When the app starts')
  const startHooks = f.hooks.filter((h) => h.name === 'onRoute' || h.name === 'onReady')
  const seen = new Map<string, number>()
  const hookRow = (hook: RequestFacts['hooks'][number]): void => {
    const i = seen.get(hook.name) ?? 0
    seen.set(hook.name, i + 1)
    const small = [...(hook.when === undefined ? [] : [`if ${hook.when}:`]), ...hook.calls, ...hook.assigns.map((a) => `${a} = [..., limit hook]`)]
    const a = acts(hook.name, i)
    const h = Math.max(laneBox(c, y, hook.name, 'quiet', small), row(c, y, '', a))
    y += h + 8
  }
  const h0 = Math.max(laneBox(c, y, 'app.register()', 'quiet', ['fastifyLimiter(fastify, options)']), row(c, y, '', registration))
  y += h0 + 8
  for (const hook of startHooks.filter((h) => h.name === 'onRoute')) hookRow(hook)
  for (const hook of startHooks.filter((h) => h.name === 'onReady')) hookRow(hook)

  // ---- per request: Fastify's lifecycle on the left, the engine on the right
  y += 6
  y += heading(c, y, 'Each request of a limited route')
  const top = y
  const laneY = new Map<string, number>()
  let ly = y
  for (const hook of lifecycle.slice(0, lifecycle.indexOf('handler'))) {
    const choice = f.hookChoices.includes(hook)
    laneY.set(hook, ly)
    ly += laneBox(c, ly, hook, choice ? 'hook' : 'quiet', choice ? [hook === f.defaults.hook ? `hook: '${hook}' (the default)` : `hook: '${hook}'`] : []) + 6
  }
  c.lines(lane.x, ly + 14, wrap('The limit\'s hook (lib/request/hook.ts) runs in the one of these the hook option names, after the route\'s own hooks of that kind; the engine (engine.ts) runs one Flow per limit through the stages on the right.', lane.w, 11.5), { size: 11.5, muted: true, lead: 14 })
  for (const hook of f.hookChoices) {
    const at = (laneY.get(hook) as number) + 14
    c.arrow([[lane.x + lane.w, at], [right.x, at]], true, hook !== f.defaults.hook)
  }

  const engineMark = c.mark()
  y += 4
  const stageY = new Map<string, number>()
  for (const stage of f.stages.slice(0, 3)) {
    stageY.set(stage.name, y)
    y = stageHeader(c, y, stage)
    if (stage.file === sources.resolve) for (const s of f.steps) y += row(c, y, s.name, acts(s.name))
    if (stage.file === sources.decide) for (const s of f.phases) y += row(c, y, s.name, acts(s.name))
    if (stage.file === sources.respond) {
      const outcomes = outcomeActs(f)
      for (const o of f.outcomes.slice(1)) {
        const a = outcomes[o.name]
        // flow.ts's comment, without the Flow field it names (": `answer`.")
        const doc = (o.doc ?? '').replace(/: `\w+`\.$/, '.').replace(/`/g, '')
        y += row(c, y, o.name, { note: [doc, a.note].filter(Boolean).join(' '), options: a.options }, a.results)
      }
    }
    y += 6
  }
  c.box(right.x, top, right.w, y - top, 'panel', engineMark)

  // the rest of the lifecycle, beside the respond stage: where a pass and an answer go
  const respondY = stageY.get('RESPONDING') as number
  ly = Math.max(ly + 90, respondY)
  const handlerY = ly
  ly += laneBox(c, ly, 'handler', 'pass', ['runs after a pass: done()']) + 6
  for (const hook of lifecycle.slice(lifecycle.indexOf('handler') + 1)) {
    laneY.set(hook, ly)
    ly += laneBox(c, ly, hook, 'quiet', hook === 'onSend' ? ['after the handler, or after an answer sent in the hook (the handler skipped)'] : []) + 6
  }
  c.arrow([[right.x, handlerY + 14], [lane.x + lane.w, handlerY + 14]])
  c.arrow([[right.x, (laneY.get('onSend') as number) + 14], [lane.x + lane.w, (laneY.get('onSend') as number) + 14]])

  // ---- after the response: settle, on the raw response's event
  y = Math.max(y, ly) + 10
  const ended = f.stages[3]
  const settleTop = y
  const settleMark = c.mark()
  laneBox(c, y, `reply.raw '${f.settleEvent}'`, 'hook', ['the response finished, or the connection gone (a stream ended or aborted)'])
  c.arrow([[lane.x + lane.w, y + 14], [right.x, y + 14]])
  y = stageHeader(c, y + 4, ended)
  for (const [name, a] of Object.entries(settleActs)) y += row(c, y, name, a)
  c.box(right.x, settleTop, right.w, y - settleTop + 6, 'panel', settleMark)
  y += 16

  // ---- at close
  y += heading(c, y, 'When the app closes')
  for (const hook of f.hooks.filter((h) => h.name !== 'onRoute' && h.name !== 'onReady')) hookRow(hook)

  return c.render(W, y + 10, 'How a request is decided by fastify-limiter',
    `The hooks fastify-limiter adds (${f.hooks.map((h) => h.name).join(', ')}), the hook a limit runs in (${f.hookChoices.join(', ')}), ` +
    `the stages of a flow (${f.stages.map((s) => s.name).join(', ')}) with resolve's steps (${f.steps.map((s) => s.name).join(', ')}), ` +
    `decide's phases (${f.phases.map((s) => s.name).join(', ')}) and the outcomes (${f.outcomes.slice(1).map((s) => s.name).join(', ')}), and where each option acts.`)
}

/** A stage's title bar: its number, constant, module and what it is for. */
function stageHeader (c: Canvas, y: number, stage: RequestFacts['stages'][number]): number {
  c.text(col.name, y + 18, `${stage.value + 1}  ${stage.name}  (${stage.file})`, { bold: true, size: 13 })
  const what = wrap(stage.what, right.w - 24, 11.5)
  const end = c.lines(col.name, y + 34, what, { size: 11.5, muted: true, lead: 14 })
  c.arrow([[right.x + 8, end - 6], [right.x + right.w - 8, end - 6]], false)
  return end
}
