import { sources } from './facts.js'
import type { BreakerFacts } from './facts.js'
import { Canvas, wrap } from './svg.js'

/**
 * docs/breaker.svg: the store breaker's states and transitions. The states are breaker.ts's
 * `BreakerState` union, the numbers its constants (the values it runs with); the transitions are
 * listed here with the method of breaker.ts that makes each, and `checkEdges` refuses them unless
 * they are exactly the assignments to `#state` that breaker.ts makes (which method, which state).
 * test/plugin/diagrams.test.ts drives a real Breaker through every drawn transition, and checks
 * that it makes no other.
 */

type Point = readonly [number, number]

export interface Edge {
  readonly from: string
  readonly to: string
  /** The Breaker method that makes the transition. */
  readonly method: 'admit' | 'succeeded' | 'failed'
  readonly label: readonly string[]
}

/** The constants the labels use, by name; throws when breaker.ts no longer has one. */
function constants (f: BreakerFacts): (name: string) => number {
  return (name) => {
    const found = f.constants.find((c) => c.name === name)
    if (found === undefined) throw new Error(`${sources.breaker}: no constant ${name}; update scripts/diagrams/breaker.ts`)
    return found.value
  }
}

/** Every transition of the breaker. */
export function edges (f: BreakerFacts): Edge[] {
  const k = constants(f)
  return [
    {
      from: 'closed',
      to: 'open',
      method: 'failed',
      label: [`${k('BREAKER_FAILURES')} failures in a row,`, `or half of at least ${k('BREAKER_MIN_CALLS')} calls within ${k('BREAKER_WINDOW_MS')} ms,`, 'or one failure that held the event loop']
    },
    { from: 'open', to: 'closed', method: 'succeeded', label: ['a call sent before it opened answers'] },
    { from: 'open', to: 'half-open', method: 'admit', label: [`${k('BREAKER_MS')} ms passed:`, 'the next call is the probe'] },
    { from: 'half-open', to: 'closed', method: 'succeeded', label: ['the probe answers'] },
    { from: 'half-open', to: 'open', method: 'failed', label: ['the probe fails'] },
    { from: 'open', to: 'open', method: 'failed', label: ['a call sent before it opened fails:', `open for ${k('BREAKER_MS')} ms from now`] }
  ]
}

/** What a call meets in each state (`Breaker.admit`). */
const stateNotes: Record<string, string> = {
  closed: 'every store call goes ahead',
  open: 'no store call: each request follows onStoreError at once, without waiting',
  'half-open': 'one call, the probe, asks the store; the others follow onStoreError until it settles'
}

/** Throws unless the states and the transitions drawn are breaker.ts's own. */
export function checkEdges (f: BreakerFacts, drawn: readonly Edge[]): void {
  const key = (method: string, to: string): string => `${method}() -> '${to}'`
  const code = new Set(f.assignments.map((a) => key(a.method, a.value)))
  const shown = new Set(drawn.map((e) => key(e.method, e.to)))
  const states = [...f.states].sort().join(', ')
  if ([...Object.keys(stateNotes)].sort().join(', ') !== states) {
    throw new Error(`${sources.breaker}: the states are ${states}; update scripts/diagrams/breaker.ts`)
  }
  if ([...code].sort().join(', ') !== [...shown].sort().join(', ')) {
    throw new Error(`${sources.breaker} sets #state by ${[...code].join(', ')}; the picture by ${[...shown].join(', ')}: update scripts/diagrams/breaker.ts`)
  }
}

const W = 900
const box = { w: 240, h: 92 }
const at: Record<string, Point> = { closed: [40, 150], open: [620, 150], 'half-open': [330, 360] }

/** The line of each transition: its points (a curve when three), and where its label goes. */
const paths: Record<string, { readonly points: readonly Point[], readonly label: Point, readonly anchor: 'start' | 'middle' | 'end' }> = {
  'closed>open': { points: [[280, 170], [620, 170]], label: [450, 128], anchor: 'middle' },
  'open>closed': { points: [[620, 222], [280, 222]], label: [450, 212], anchor: 'middle' },
  'open>half-open': { points: [[680, 242], [540, 360]], label: [630, 290], anchor: 'start' },
  'half-open>closed': { points: [[350, 360], [190, 242]], label: [250, 310], anchor: 'end' },
  'half-open>open': { points: [[570, 420], [800, 430], [790, 242]], label: [690, 445], anchor: 'start' },
  'open>open': { points: [[830, 150], [900, 60], [720, 150]], label: [800, 84], anchor: 'end' }
}

export function renderBreaker (f: BreakerFacts): string {
  const drawn = edges(f)
  checkEdges(f, drawn)
  const c = new Canvas()
  c.text(20, 28, 'The store breaker: when requests stop asking a failing store, and when they ask it again', { size: 17, bold: true })
  c.text(20, 48, `Drawn by scripts/request-diagrams.ts (npm run docs:diagrams) from ${sources.breaker}: the BreakerState states, the methods that`, { size: 11.5, muted: true })
  c.text(20, 63, 'assign #state, the constants. The breaker keeps requests off a failing store (one per registration, in its store guard).', { size: 11.5, muted: true })
  for (const state of f.states) {
    const [x, y] = at[state]
    c.box(x, y, box.w, box.h, state === 'closed' ? 'pass' : state === 'open' ? 'stop' : 'deny')
    c.text(x + box.w / 2, y + 24, state, { bold: true, size: 15, anchor: 'middle' })
    c.lines(x + box.w / 2, y + 44, wrap(stateNotes[state], box.w - 20, 11.5), { size: 11.5, anchor: 'middle', lead: 14 })
  }
  c.text(40, 140, 'starts closed', { size: 11.5, muted: true })
  for (const edge of drawn) {
    const path = paths[`${edge.from}>${edge.to}`]
    const [from, via, to] = path.points
    if (to === undefined) c.arrow([from, via])
    else c.curve(from, via, to)
    const [lx, ly] = path.label
    c.lines(lx, ly - (edge.from === 'closed' ? (edge.label.length - 1) * 14 : 0), edge.label, { size: 11.5, anchor: path.anchor, lead: 14 })
  }
  let y = 490
  c.text(20, y, 'A failure: a store call that throws, rejects or outlasts storeTimeoutMs (lib/request/guard.ts). Held the event loop: a synchronous store', { size: 11.5, muted: true })
  c.text(20, y + 15, '(SQLite) that threw after holding the loop as long as its busy timeout. Every duration runs on the monotonic clock.', { size: 11.5, muted: true })
  y += 42
  for (const { name, value, doc } of f.constants) {
    c.text(20, y, `${name} = ${value}`, { mono: true, bold: true, size: 11.5 })
    y = c.lines(210, y, wrap(doc ?? '', W - 230, 11.5), { size: 11.5, lead: 14 }) + 4
  }
  return c.render(W, y + 6, 'The states of the store breaker',
    `States ${f.states.join(', ')}; transitions ${drawn.map((e) => `${e.from} to ${e.to} when ${e.label.join(' ')}`).join('; ')}.`)
}
