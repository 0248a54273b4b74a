// Every public option shows its documentation in an editor: a TypeScript LanguageService (what
// VS Code and other editors run) answers quick info ("hover") on each option key of an object
// typed as FastifyLimiterOptions, RouteRateLimit and each store's options, imported from the
// package entry. The keys come from the TypeBox schemas and from the option interfaces
// themselves, so a new option without TSDoc fails here. (TypeBox's `Static` keeps the comments:
// it maps over the schema's property keys with Pick/Partial, which carry each property's
// declaration, and so its JSDoc, through to the derived type.)
import t from 'tap'
import type { Test } from 'tap'
import ts from 'typescript'
import { join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HeaderNamesSchema, LimitObjectSchema, PluginOptionsSchema, RateSchema } from '../../lib/config/schema.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>, anyOf?: Schema[], items?: Schema }

const rateObject = (RateSchema as unknown as Schema).anyOf?.find((s) => s.properties !== undefined) as Schema
/** The schemas that appear in several places are named once, so each key has one id. */
const named = new Map<Schema, string>([
  [PluginOptionsSchema as unknown as Schema, 'options'],
  [LimitObjectSchema as unknown as Schema, 'limit'],
  [HeaderNamesSchema as unknown as Schema, 'headers'],
  [rateObject, 'rate']
])

/** The objects (with properties) a property's schema may be: through unions and arrays. */
function objectsIn (schema: Schema): Schema[] {
  if (schema.properties !== undefined) return Object.keys(schema.properties).length > 0 ? [schema] : []
  const inner = [...(schema.anyOf ?? []), ...(schema.items === undefined ? [] : [schema.items])]
  return [...new Set(inner.flatMap(objectsIn))]
}

/** The options that have no default (unset means "none" or the key is required); every other one must say its `@default`. */
const withoutDefault = new Set([
  'options.sqlite', 'options.sqlite.path', 'options.redis', 'options.global', 'options.exempt', 'options.onExceeded',
  'options.key', 'options.rate', 'options.onExceeding',
  'limit.ip', 'limit.user', 'limit.key', 'limit.rate', 'limit.group', 'options.delay.maxMs', 'limit.delay.maxMs', 'limit.concurrency.ip', 'limit.concurrency.user', 'limit.concurrency.key',
  'options.ban.after', 'options.ban.for', 'limit.ban.after', 'limit.ban.for', 'options.onBan', 'limit.onBan', 'options.settle',
  'rate.limit', 'rate.windowMs',
  'SqliteStoreOptions.path', 'RedisStoreOptions.client', 'RedisStoreOptions.url'
])

interface Probe { id: string, offset: number }

/** Source text of an object literal with every key of `schema` (nested objects too), recording where each key is. */
function literal (schema: Schema, name: string, out: { text: string, probes: Probe[] }): void {
  out.text += '{ '
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    out.probes.push({ id: `${name}.${key}`, offset: out.text.length })
    out.text += `${key}: `
    const nested = objectsIn(property)
    if (nested.length > 1) throw new Error(`${name}.${key}: more than one object form; teach this test which to probe`)
    if (nested.length === 1) literal(nested[0], named.get(nested[0]) ?? `${name}.${key}`, out)
    else out.text += 'undefined as never'
    out.text += ', '
  }
  out.text += '}'
}

const config = ts.parseJsonConfigFileContent(ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile).config, ts.sys, root)

/** An editor's view: a LanguageService over the files on disk plus `virtual` ones (path -> text). */
function editor (virtual: Map<string, string>) {
  let version = 0
  const inside = (dir: string) => [...virtual.keys()].some((name) => name.startsWith(dir + sep))
  const service = ts.createLanguageService({
    getScriptFileNames: () => [...virtual.keys()].filter((name) => !name.endsWith('.d.ts')),
    getScriptVersion: () => String(version),
    getScriptSnapshot: (name) => {
      const text = virtual.get(name) ?? ts.sys.readFile(name)
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text)
    },
    getCurrentDirectory: () => root,
    getCompilationSettings: () => config.options,
    getDefaultLibFileName: ts.getDefaultLibFilePath,
    fileExists: (name) => virtual.has(name) || ts.sys.fileExists(name),
    readFile: (name) => virtual.get(name) ?? ts.sys.readFile(name),
    readDirectory: ts.sys.readDirectory,
    directoryExists: (dir) => inside(dir) || ts.sys.directoryExists(dir),
    getDirectories: ts.sys.getDirectories
  })
  return {
    service,
    /** Replaces a virtual file and returns the new program. */
    write (name: string, text: string): ts.Program {
      virtual.set(name, text)
      version++
      return service.getProgram() as ts.Program
    }
  }
}

const stores = ['MemoryStoreOptions', 'SqliteStoreOptions', 'RedisStoreOptions']

/** Probes every option key of every options type, imported from `entry`, in an editor over `virtual` files. */
function probeOptions (t: Test, virtual: Map<string, string>, file: string, entry: string) {
  const { service, write } = editor(virtual)
  const header = `import type { FastifyLimiterOptions, RouteRateLimit, ${stores.join(', ')} } from '${entry}'\n`

  // first pass: the keys of the store option interfaces, as the compiler sees them
  const checker = write(file, header + stores.map((s) => `export type P${s} = ${s}\n`).join('') + 'export type PFastifyLimiterOptions = FastifyLimiterOptions\n').getTypeChecker()
  const module = checker.getSymbolAtLocation(service.getProgram()?.getSourceFile(file) as ts.SourceFile) as ts.Symbol
  const exported = (name: string) => {
    const symbol = checker.getExportsOfModule(module).find((s) => s.name === name) as ts.Symbol
    return checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((p) => p.name)
  }
  const storeKeys = Object.fromEntries(stores.map((s) => [s, exported(`P${s}`)]))
  const optionKeys = exported('PFastifyLimiterOptions')

  // second pass: one object per options type, every key present
  const out = { text: header + 'export const options: FastifyLimiterOptions = ', probes: [] as Probe[] }
  literal(PluginOptionsSchema as unknown as Schema, 'options', out)
  out.text += '\nexport const route: RouteRateLimit = '
  literal(LimitObjectSchema as unknown as Schema, 'limit', out)
  for (const store of stores) {
    out.text += `\nexport const ${store.replace('Options', '')}: ${store} = { `
    for (const key of storeKeys[store]) {
      out.probes.push({ id: `${store}.${key}`, offset: out.text.length })
      out.text += `${key}: undefined as never, `
    }
    out.text += '}'
  }
  out.text += '\n'
  write(file, out.text)

  t.test('the probe file type-checks: every key is a real option of its type', async (t) => {
    t.same(optionKeys.sort(), Object.keys(PluginOptionsSchema.properties).sort(), 'FastifyLimiterOptions has the schema\'s keys')
    for (const store of stores) t.ok(storeKeys[store].length >= 3, `${store} has its keys`)
    const diagnostics = service.getSemanticDiagnostics(file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    t.same(diagnostics, [], out.text)
  })

  t.test('every option key shows documentation, @default (where defaulted) and @example', async (t) => {
    const ids = out.probes.map((p) => p.id)
    // the lists above must name real options, or a stale entry would hide a missing @default
    t.same([...withoutDefault].filter((id) => !ids.includes(id)), [], 'every option without a default exists')
    // nested schemas are probed too
    for (const id of ['options.sqlite.busyTimeoutMs', 'options.log.denied', 'options.metrics.prefix', 'options.openapi.errorSchema',
      'options.headers', 'headers.retryAfter', 'limit.cost', 'rate.windowMs', 'MemoryStoreOptions.maxKeys', 'RedisStoreOptions.keyPrefix']) {
      t.ok(ids.includes(id), `${id} is probed`)
    }
    for (const { id, offset } of out.probes) {
      const info = service.getQuickInfoAtPosition(file, offset)
      const key = id.split('.').pop() as string
      t.match(ts.displayPartsToString(info?.displayParts), new RegExp(`^\\(property\\) (\\w+\\.)?${key}\\??:`), `${id}: quick info is the property`)
      t.ok(ts.displayPartsToString(info?.documentation).trim().length > 20, `${id}: has a description`)
      const tags = (info?.tags ?? []).map((tag) => ({ name: tag.name, text: ts.displayPartsToString(tag.text).trim() }))
      t.ok(tags.some((tag) => tag.name === 'example' && tag.text.length > 0), `${id}: has an @example`)
      // an `@` after a space starts a tag: "with @fastify/swagger" would cut the description short
      t.same(tags.filter((tag) => tag.name !== 'example' && tag.name !== 'default'), [], `${id}: no other tags`)
      const defaults = tags.filter((tag) => tag.name === 'default')
      if (withoutDefault.has(id)) {
        t.same(defaults, [], `${id}: has no default and says none`)
      } else {
        t.equal(defaults.length, 1, `${id}: has one @default`)
        t.ok(defaults[0]?.text.length > 0, `${id}: @default has a value`)
      }
    }
  })
}

t.test('from the sources (index.ts)', async (t) => {
  // a file that exists only in memory, next to the tests, importing the package entry
  probeOptions(t, new Map(), join(root, 'test', 'tsdoc-probe.ts'), '../index.js')
})

t.test('from the published declarations (the .d.ts files the build emits)', async (t) => {
  // emitted in memory with the build's settings, then read by the editor from a folder that
  // exists only in memory: what a user's editor reads from node_modules/fastify-limiter/dist
  const build = ts.parseJsonConfigFileContent(ts.readConfigFile(join(root, 'tsconfig.build.json'), ts.sys.readFile).config, ts.sys, root)
  const outDir = join(root, 'tsdoc-dts')
  const declarations = new Map<string, string>()
  const program = ts.createProgram(build.fileNames, { ...build.options, outDir, emitDeclarationOnly: true })
  const emitted = program.emit(undefined, (name, text) => { if (name.endsWith('.d.ts')) declarations.set(resolve(name), text) })
  t.same(emitted.diagnostics, [])
  t.ok(declarations.has(join(outDir, 'index.d.ts')), 'index.d.ts emitted')
  probeOptions(t, declarations, join(outDir, 'probe.ts'), './index.js')
})
