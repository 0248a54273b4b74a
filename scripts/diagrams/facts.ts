import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { resolveOptions } from '../../lib/config/options.js'
import { LimitObjectSchema, PluginOptionsSchema } from '../../lib/config/schema.js'
import * as breaker from '../../lib/request/breaker.js'
import { UNAVAILABLE_RETRY_S } from '../../lib/request/response.js'
import { addedHooks, constantRun, fieldAssignments, listenedEvents, numberedConstants, stringUnion } from './source.js'
import type { AddedHook, FieldAssignment, NumberedConstant } from './source.js'

/**
 * What the two pictures show, read from the code: nothing here is written by hand but Fastify's
 * own lifecycle (`lifecycle`, Fastify's contract, not this project's).
 *
 * - the hooks the plugin adds: parsed from index.ts's `addHook` calls (name, the `if` it stands
 *   under, what it calls, and onRoute's `route[settings.hook] = ...`);
 * - the hooks a limit may run in and the defaults: the option schema, and `resolveOptions` itself;
 * - the stages, outcomes, steps and phases: the numbered constants of flow.ts, resolve.ts and
 *   decide.ts (parsed: resolve's and decide's are module-private), with flow.ts's doc comments;
 * - what each stage is for: the first sentence of its module's "Stage N" comment;
 * - when settle runs: the event settle.ts listens to;
 * - the option names: the schemas' properties;
 * - the breaker: its states (the `BreakerState` union), its transitions (the assignments to
 *   `#state`, by method) and its constants (imported: the values the code runs with, with their
 *   doc comments).
 */

/** Fastify's request lifecycle, in order (fastify.dev, Lifecycle and Hooks). */
export const lifecycle = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'handler', 'preSerialization', 'onSend', 'onResponse'] as const

/** The files the facts come from, relative to the repository root. */
export const sources = {
  plugin: 'index.ts',
  flow: 'lib/request/flow.ts',
  resolve: 'lib/request/resolve.ts',
  decide: 'lib/request/decide.ts',
  respond: 'lib/request/respond.ts',
  settle: 'lib/request/settle.ts',
  concurrency: 'lib/request/concurrency.ts',
  breaker: 'lib/request/breaker.ts'
} as const

/** A stage of a flow: its constant, and what its module's "Stage N" comment says it is for. */
export interface Stage extends NumberedConstant {
  readonly file: string
  readonly what: string
}

export interface RequestFacts {
  readonly hooks: readonly AddedHook[]
  /** The values of the `hook` option, in lifecycle order. */
  readonly hookChoices: readonly string[]
  readonly defaults: {
    readonly hook: string
    readonly onStoreError: string
    readonly storeTimeoutMs: number
    /** The status of a denial (`statusCode`). */
    readonly statusCode: number
    readonly banStatus: number
  }
  readonly stages: readonly Stage[]
  readonly steps: readonly NumberedConstant[]
  readonly phases: readonly NumberedConstant[]
  /** How a flow ends; the first, numbered 0, is "not yet" (UNDECIDED). */
  readonly outcomes: readonly NumberedConstant[]
  /** The event of the raw response after which settle runs. */
  readonly settleEvent: string
  readonly readyWaitMs: number
  readonly slotRetryS: number
  readonly unavailableRetryS: number
  /** Every option name: the plugin's and a route limit's. */
  readonly options: ReadonlySet<string>
}

export interface BreakerFacts {
  readonly states: readonly string[]
  readonly assignments: readonly FieldAssignment[]
  /** The module's exported numeric constants: name, the value it runs with, and its doc comment. */
  readonly constants: ReadonlyArray<{ readonly name: string, readonly value: number, readonly doc: string | undefined }>
}

/** Which module holds each stage (its "Stage N" comment is checked). */
const stageModules: Record<string, keyof typeof sources> = {
  RESOLVING: 'resolve',
  DECIDING: 'decide',
  RESPONDING: 'respond',
  ENDED: 'settle'
}

export function requestFacts (root: string): RequestFacts {
  const read = (file: keyof typeof sources): string => readFileSync(join(root, sources[file]), 'utf8')
  const flow = read('flow')
  const settings = resolveOptions({ ban: { after: 1, for: 1000 } })
  // the store the defaults came with is made, not used: its sweep timer goes
  settings.store.close()
  const stages = constantRun(sources.flow, flow, 'RESOLVING').map((stage): Stage => {
    const module = stageModules[stage.name]
    if (module === undefined) throw new Error(`${sources.flow}: stage ${stage.name} has no module in scripts/diagrams/facts.ts`)
    return { ...stage, file: sources[module], what: stageComment(sources[module], read(module), stage.value + 1) }
  })
  const [settleEvent] = listenedEvents(sources.settle, read('settle'))
  if (settleEvent === undefined) throw new Error(`${sources.settle}: listens to no event; update scripts/diagrams/`)
  return {
    hooks: addedHooks(sources.plugin, read('plugin')),
    hookChoices: inLifecycle((PluginOptionsSchema.properties.hook as unknown as { anyOf: Array<{ const: string }> }).anyOf.map((s) => s.const)),
    defaults: {
      hook: settings.hook,
      onStoreError: settings.onStoreError,
      storeTimeoutMs: settings.storeTimeoutMs,
      statusCode: settings.statusCode,
      banStatus: (settings.ban as NonNullable<typeof settings.ban>).statusCode
    },
    stages,
    steps: byValue(numberedConstants(sources.resolve, read('resolve'))),
    phases: byValue(numberedConstants(sources.decide, read('decide'))),
    outcomes: constantRun(sources.flow, flow, 'UNDECIDED'),
    settleEvent,
    readyWaitMs: constant(sources.plugin, read('plugin'), 'READY_WAIT_MS'),
    slotRetryS: constant(sources.concurrency, read('concurrency'), 'RETRY_S'),
    unavailableRetryS: UNAVAILABLE_RETRY_S,
    options: new Set([...Object.keys(PluginOptionsSchema.properties), ...Object.keys(LimitObjectSchema.properties)])
  }
}

export function breakerFacts (root: string): BreakerFacts {
  const source = readFileSync(join(root, sources.breaker), 'utf8')
  // in source order, with the values the module runs with (a constant computed from others too)
  const docs = new Map(numberedConstants(sources.breaker, source).map((c) => [c.name, c.doc]))
  const values = breaker as Record<string, unknown>
  const constants = Object.keys(values)
    .filter((name) => typeof values[name] === 'number')
    .sort((a, b) => source.indexOf(`const ${a} `) - source.indexOf(`const ${b} `))
    .map((name) => ({ name, value: values[name] as number, doc: docs.get(name) }))
  return {
    states: stringUnion(sources.breaker, source, 'BreakerState'),
    assignments: fieldAssignments(sources.breaker, source, '#state'),
    constants
  }
}

/** The values of the `hook` option (from its schema), checked to be hooks of Fastify's lifecycle, in its order. */
export function inLifecycle (choices: string[]): string[] {
  const positions = choices.map((hook) => (lifecycle as readonly string[]).indexOf(hook))
  if (positions.some((p, i) => p < 0 || (i > 0 && p < positions[i - 1]))) {
    throw new Error(`the hook option's values ${choices.join(', ')} are not hooks of Fastify's lifecycle in its order; update scripts/diagrams/facts.ts`)
  }
  return choices
}

/** Steps and phases in the order a flow goes through them (`flow.step++`). */
function byValue (constants: NumberedConstant[]): NumberedConstant[] {
  return constants.sort((a, b) => a.value - b.value)
}

/** A module's numbered constant by name. */
function constant (file: string, source: string, name: string): number {
  const found = numberedConstants(file, source).find((c) => c.name === name)
  if (found === undefined) throw new Error(`${file}: no constant ${name}; update scripts/diagrams/`)
  return found.value
}

/** The first sentence of a module's `/** Stage N, ...` comment, without its code quotes. */
export function stageComment (file: string, source: string, n: number): string {
  for (const [, body] of source.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    const text = body.replace(/^\s*\* ?/gm, '').replace(/\s+/g, ' ').trim()
    if (text.startsWith(`Stage ${n},`)) return text.replace(/`/g, '').replace(/\. .*$/, '.')
  }
  throw new Error(`${file}: no comment starting 'Stage ${n},'; update scripts/diagrams/`)
}
