/**
 * A small SVG writer for the pictures of scripts/diagrams/: boxes, text wrapped to a width,
 * arrows, and one stylesheet with a light and a dark palette (`prefers-color-scheme`, which
 * GitHub honours in an SVG shown as an image). No external font, image or script: the fonts are
 * the system's own.
 */

export const SANS = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif"
export const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace'

/** Class name -> [light, dark] colours; `fill` for shapes and text, `stroke` for lines (see `style`). */
const palette = {
  bg: ['#ffffff', '#0d1117'],
  fg: ['#1f2328', '#e6edf3'],
  muted: ['#59636e', '#9198a1'],
  line: ['#59636e', '#9198a1'],
  panel: ['#f6f8fa', '#151b23'],
  edge: ['#d1d9e0', '#3d444d'],
  hook: ['#ddf4ff', '#0c2d6b'],
  hookEdge: ['#54aeff', '#4493f8'],
  pass: ['#dafbe1', '#0f3d1e'],
  passEdge: ['#1a7f37', '#3fb950'],
  deny: ['#fff1e5', '#4a2a0e'],
  denyEdge: ['#bc4c00', '#f0883e'],
  stop: ['#ffebe9', '#4f1c1c'],
  stopEdge: ['#cf222e', '#f85149'],
  quiet: ['#eff2f5', '#262c36'],
  quietEdge: ['#818b98', '#656c76']
} as const

export type Tone = 'hook' | 'pass' | 'deny' | 'stop' | 'quiet' | 'panel'

/** The stylesheet: classes `t-*` colour text, `s-*` fill and stroke shapes, `l-*` stroke lines. */
function style (): string {
  const rules = (scheme: 0 | 1): string => [
    `.bg{fill:${palette.bg[scheme]}}`,
    `text{fill:${palette.fg[scheme]}}`,
    `.t-muted{fill:${palette.muted[scheme]}}`,
    `.l{stroke:${palette.line[scheme]};fill:none}`,
    `.arrow{fill:${palette.line[scheme]}}`,
    `.s-panel{fill:${palette.panel[scheme]};stroke:${palette.edge[scheme]}}`,
    ...(['hook', 'pass', 'deny', 'stop', 'quiet'] as const).map((tone) =>
      `.s-${tone}{fill:${palette[tone][scheme]};stroke:${palette[`${tone}Edge`][scheme]}}`)
  ].join('')
  return `<style>${rules(0)}@media (prefers-color-scheme: dark){${rules(1)}}</style>`
}

/** Escapes text for an SVG text node or attribute. */
export function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Roughly how wide a text is at `size` px: enough to wrap and size boxes, never to measure. */
export function widthOf (text: string, size: number, mono = false): number {
  return text.length * size * (mono ? 0.62 : 0.56)
}

/** Splits text into lines no wider than `width` at `size` px, at spaces. */
export function wrap (text: string, width: number, size: number, mono = false): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const next = line === '' ? word : `${line} ${word}`
    if (line !== '' && widthOf(next, size, mono) > width) {
      lines.push(line)
      line = word
    } else {
      line = next
    }
  }
  if (line !== '') lines.push(line)
  return lines
}

export interface TextOptions {
  size?: number
  mono?: boolean
  bold?: boolean
  muted?: boolean
  anchor?: 'start' | 'middle' | 'end'
}

/** An SVG being drawn: shapes are added in order, `render` wraps them in the document. */
export class Canvas {
  readonly #parts: string[] = []

  text (x: number, y: number, text: string, options: TextOptions = {}): void {
    const { size = 12, mono = false, bold = false, muted = false, anchor = 'start' } = options
    const attrs = [`x="${x}"`, `y="${y}"`]
    if (size !== 12) attrs.push(`font-size="${size}"`)
    if (mono) attrs.push(`font-family="${MONO}"`)
    if (bold) attrs.push('font-weight="bold"')
    if (muted) attrs.push('class="t-muted"')
    if (anchor !== 'start') attrs.push(`text-anchor="${anchor}"`)
    this.#parts.push(`<text ${attrs.join(' ')}>${esc(text)}</text>`)
  }

  /** Lines of text from baseline `y`, `lead` px apart; returns the baseline after the last. */
  lines (x: number, y: number, lines: readonly string[], options: TextOptions & { lead: number }): number {
    lines.forEach((line, i) => this.text(x, y + i * options.lead, line, options))
    return y + lines.length * options.lead
  }

  /** Where the next shape goes: a box drawn later `at` it lies under what was drawn since. */
  mark (): number {
    return this.#parts.length
  }

  box (x: number, y: number, width: number, height: number, tone: Tone, at = this.#parts.length): void {
    this.#parts.splice(at, 0, `<rect x="${x}" y="${y}" width="${width}" height="${height}" rx="6" class="s-${tone}"/>`)
  }

  /** A line through `points`, with an arrowhead at its end unless `head` is false. */
  arrow (points: ReadonlyArray<readonly [number, number]>, head = true, dashed = false): void {
    const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x},${y}`).join(' ')
    this.#parts.push(`<path d="${d}" class="l"${dashed ? ' stroke-dasharray="4 3"' : ''}${head ? ' marker-end="url(#head)"' : ''}/>`)
  }

  /** A curve from `from` to `to` bent through the control point `via` (a quadratic Bézier), with an arrowhead. */
  curve (from: readonly [number, number], via: readonly [number, number], to: readonly [number, number]): void {
    this.#parts.push(`<path d="M${from[0]},${from[1]} Q${via[0]},${via[1]} ${to[0]},${to[1]}" class="l" marker-end="url(#head)"/>`)
  }

  /** The document: `title` and `desc` are what a screen reader (and GitHub's alt text) gets. */
  render (width: number, height: number, title: string, desc: string): string {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${SANS}" font-size="12" role="img">`,
      `<title>${esc(title)}</title>`,
      `<desc>${esc(desc)}</desc>`,
      style(),
      '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
        '<path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker></defs>',
      `<rect width="${width}" height="${height}" class="bg"/>`,
      ...this.#parts,
      '</svg>',
      ''
    ].join('\n')
  }
}
