// A project the way a reader of the docs has one, for test/plugin/readme.test.ts: an empty folder
// outside this repository, the package installed in it as `npm pack` ships it, and the other
// packages the pages import; then one TypeScript project per page, all checked by one `tsc --build`.
import { spawnSync } from 'node:child_process'
import type { SpawnSyncOptions } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

function run (command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, ...options })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${String(result.stdout)}${String(result.stderr)}`)
  return String(result.stdout)
}

const tsc = (root: string) => join(root, 'node_modules', 'typescript', 'bin', 'tsc')

/** The package names of the bare imports in `sources` (`ioredis`, `@fastify/swagger`), node's own aside. */
export function importedPackages (sources: string[]): string[] {
  const names = new Set<string>()
  for (const source of sources) {
    for (const [, specifier] of source.matchAll(/^\s*(?:import|export)\b[^'"\n]*?['"]([^'"./][^'"]*)['"]/gm)) {
      if (specifier.startsWith('node:')) continue
      names.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'))
    }
  }
  return [...names].sort()
}

/** Where to build, pack and install the package, and what else the pages import. */
export interface Install {
  /** This repository. */
  root: string
  /** An empty folder to build and pack the package in. */
  stage: string
  /** The reader's project folder. */
  project: string
  /** The packages the pages import (`importedPackages`). */
  imports: string[]
}

/**
 * Builds the package into `stage` (never the repository's dist/, which another test may be
 * packing at the same moment), packs it with `npm pack` and unpacks it as
 * `<project>/node_modules/fastify-limiter`. Its dependencies and the packages in `imports`
 * (with their `@types`) are linked from this repository's node_modules, so their versions are the
 * lockfile's and nothing is downloaded.
 */
export function installPackage ({ root, stage, project, imports }: Install): void {
  // --noCheck: `npm run typecheck` checks the sources; the files emitted are the same (up to
  // the order of a union's members in a .d.ts), for a third less CPU
  run(process.execPath, [tsc(root), '-p', join(root, 'tsconfig.build.json'), '--noCheck', '--outDir', join(stage, 'dist')])
  for (const file of ['package.json', 'README.md', 'LICENSE']) copyFileSync(join(root, file), join(stage, file))
  const [pack] = JSON.parse(run('npm', ['pack', stage, '--ignore-scripts', '--json', '--pack-destination', stage, '--loglevel=error'])) as Array<{ filename: string }>

  const installed = join(project, 'node_modules', 'fastify-limiter')
  mkdirSync(installed, { recursive: true })
  run('tar', ['-xzf', join(stage, pack.filename), '-C', installed, '--strip-components=1'])
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'docs-reader', private: true, type: 'module' }))
  const { dependencies } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const names = [...Object.keys(dependencies), ...imports.filter((name) => name !== 'fastify-limiter'), 'node']
  for (const name of names.flatMap((n) => [n, `@types/${n.replace(/^@(.*)\//, '$1__')}`])) {
    const target = join(root, 'node_modules', name)
    const link = join(project, 'node_modules', name)
    if (!existsSync(target) || existsSync(link)) continue
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(target, link, 'dir')
  }
}

/** A block to check: its page, where it starts there, and its code. */
export interface PageBlock {
  page: string
  line: number
  indent: number
  source: string
}

/** The `declare module` and `declare global` blocks of `source` (written at the start of a line). */
export function augmentations (source: string): string[] {
  return [...source.matchAll(/^declare\s+(?:module|global)\b[^\n]*\{$[\s\S]*?^\}$/gm)].map((m) => m[0])
}

/**
 * The blocks in tsc projects: pages that import the same packages and declare the same
 * augmentations (or none) share one, where each sees exactly what it would see alone; the others
 * have one each.
 */
export function groupPages<B extends PageBlock> (blocks: B[]): B[][] {
  const groups = new Map<string, B[]>()
  for (const page of new Set(blocks.map((b) => b.page))) {
    const own = blocks.filter((b) => b.page === page)
    const sources = own.map((b) => b.source)
    const key = JSON.stringify([importedPackages(sources), [...new Set(sources.flatMap(augmentations))].sort()])
    groups.set(key, [...(groups.get(key) ?? []), ...own])
  }
  return [...groups.values()]
}

/** The compiler options of every project: a reader's strict ES module project (as `tsc --init` and Fastify's guide give). */
export const compilerOptions = {
  strict: true,
  target: 'es2022',
  module: 'nodenext',
  moduleResolution: 'nodenext',
  types: ['node'],
  skipLibCheck: true
}

/** Where a block was written: its project's folder and its file name (`README.md.47.ts`). */
export interface Written<B> {
  dir: string
  name: string
  block: B
}

/**
 * Writes each group of blocks as a project, `<project>/p<n>/` with a tsconfig.json of its own
 * (compiled to `out/`), and a tsconfig.json at the root that references them all. Returns the
 * blocks by their path from the project folder.
 */
export function writeProjects<B extends PageBlock> (project: string, groups: B[][], toModule: (source: string) => string): Map<string, Written<B>> {
  const written = new Map<string, Written<B>>()
  groups.forEach((group, i) => {
    const dir = `p${i + 1}`
    mkdirSync(join(project, dir), { recursive: true })
    const names = group.map((block) => {
      const name = `${block.page.replace(/\//g, '__')}.${block.line}.ts`
      writeFileSync(join(project, dir, name), toModule(block.source))
      written.set(`${dir}/${name}`, { dir, name, block })
      return name
    })
    writeFileSync(join(project, dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { ...compilerOptions, composite: true, outDir: 'out', rootDir: '.' },
      files: names
    }, null, 2))
  })
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ files: [], references: groups.map((_, i) => ({ path: `p${i + 1}` })) }, null, 2))
  return written
}

/**
 * `tsc --build` over every project: its messages (none when every block type-checks), each
 * located on its page (`docs/api.md:12:5: error TS2304: ...`).
 */
export function typeCheck (root: string, project: string, written: Map<string, Written<PageBlock>>): string[] {
  const result = spawnSync(process.execPath, [tsc(root), '--build', '--pretty', 'false'], { cwd: project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
  const output = `${result.stdout}${result.stderr}`.trim()
  if (output === '') return []
  return output.split(/\n(?=\S)/).map((message) => message.replace(/^(\S+\.ts)\((\d+),(\d+)\): /, (all, file: string, line: string, column: string) => {
    const at = written.get(file)
    // line 1 of a module holds the placeholders, its line n is the block's line n - 1, and so
    // the page's line (fence + n - 1)
    return at === undefined ? all : `${at.block.page}:${at.block.line + Number(line) - 1}:${at.block.indent + Number(column)}: `
  }))
}
