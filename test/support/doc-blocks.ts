// The code fences of a Markdown page, and the ```ts blocks among them turned into modules, for
// test/plugin/readme.test.ts. The rules a page's blocks follow are in that file's header comment.

/** One fenced code block of a page. */
export interface Fence {
  /** 1-based line of the opening fence. */
  line: number
  /** The opening fence's indentation (a block inside a list item is indented). */
  indent: number
  /** The first word of the info string: `ts`, `sh`, `http`... ('' when the fence names none). */
  lang: string
  /** The lines between the fences, dedented by `indent`. */
  source: string
  /** 1-based line of the closing fence, or of the page's last line when the block is not closed. */
  end: number
  /** false when the page ends inside the block: everything after its opening fence is code. */
  closed: boolean
  /** Whether the line before the fence (blank lines aside) is `<!-- not-run -->`. */
  notRun: boolean
}

// CommonMark fences: three or more backticks or tildes; a backtick fence's info string has no
// backtick (so ```` ```ts ```` in a sentence is inline code, not a fence)
const opening = /^([ \t]*)(`{3,}|~{3,})(.*)$/

/**
 * Every fenced block of `text`, in order. A fence closes at the next line made of the same
 * character, at least as many, and nothing else; one left open runs to the end of the page.
 */
export function fences (text: string): Fence[] {
  const lines = text.split('\n')
  const found: Fence[] = []
  let lastProse = ''
  for (let i = 0; i < lines.length; i++) {
    const open = opening.exec(lines[i])
    if (open === null || (open[2][0] === '`' && open[3].includes('`'))) {
      if (lines[i].trim() !== '') lastProse = lines[i].trim()
      continue
    }
    const [, indent, marker, info] = open
    const closer = new RegExp(`^[ \\t]*${marker[0]}{${marker.length},}[ \\t]*$`)
    let end = i + 1
    while (end < lines.length && !closer.test(lines[end])) end++
    found.push({
      line: i + 1,
      indent: indent.length,
      lang: info.trim().split(/\s+/)[0],
      source: lines.slice(i + 1, end).map((l) => l.slice(indent.length)).join('\n') + '\n',
      end: Math.min(end + 1, lines.length),
      closed: end < lines.length,
      notRun: lastProse === '<!-- not-run -->'
    })
    i = end
    lastProse = ''
  }
  return found
}

/** The page without its code: the lines of every fenced block (fences included) left empty. */
export function prose (text: string): string {
  const lines = text.split('\n')
  for (const fence of fences(text)) lines.fill('', fence.line - 1, fence.end)
  return lines.join('\n')
}

/**
 * What is wrong with a page's fences: one left open (it swallows the rest of the page), or one
 * that names no language (usually a stray closing fence, read as the opening of a block).
 */
export function fenceProblems (page: string, text: string): string[] {
  return fences(text).flatMap((fence) => [
    ...(fence.closed ? [] : [`${page}:${fence.line}: this fence is never closed: the rest of the page is code`]),
    ...(fence.lang === '' ? [`${page}:${fence.line}: a fence without a language (a stray closing fence?): name one, \`text\` for plain text`] : [])
  ])
}

/**
 * The names a block may use without declaring them. `app` is a Fastify app with the plugin
 * registered with its defaults (a block that registers the plugin itself makes its own app);
 * `handler` is any route handler. A page whose blocks use them says so in its prose, before the
 * first such block.
 */
export const placeholders = {
  app: "import FastifyForDocs from 'fastify'; import limiterForDocs from 'fastify-limiter'; const app = FastifyForDocs(); await app.register(limiterForDocs);",
  handler: 'const handler = async () => ({ ok: true });'
} as const

export type Placeholder = keyof typeof placeholders

/** The code without `//` comments and string contents, to look for names in. */
function code (source: string): string {
  return source
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''")
    .replace(/\/\/.*$/gm, '')
}

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

const uses = (source: string, name: string) => new RegExp(`(?<![\\w$.])${name}\\b`).test(source)

/** The placeholders a block uses without declaring them. */
export function placeholdersOf (source: string): Placeholder[] {
  const stripped = code(source)
  return (Object.keys(placeholders) as Placeholder[]).filter((name) => uses(stripped, name) && !declares(stripped, name))
}

/**
 * A block as a module: its placeholders declared on one first line (empty when it uses none),
 * then the block as written. So line `n` of the module is line `n - 1` of the block, which is
 * what lets a compiler message name the page's own line.
 */
export function toModule (source: string): string {
  return `${placeholdersOf(source).map((name) => placeholders[name]).join(' ')}\n${source}`
}
