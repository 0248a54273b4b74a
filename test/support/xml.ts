/**
 * What keeps a text from being well-formed XML, as far as the generated SVGs can go wrong: tags
 * that do not nest or close, one root, attributes quoted, no bare `<` or `&` in text or values.
 * (No XML parser is a dependency; this reads the subset the generators write, and reports
 * anything outside it.) An empty list: well-formed.
 */
export function xmlProblems (text: string): string[] {
  const problems: string[] = []
  const stack: string[] = []
  let roots = 0
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/
  const reference = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/
  const token = /<!--[\s\S]*?-->|<\?[^>]*\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<|&/g
  let last = 0
  for (const m of text.matchAll(token)) {
    const between = text.slice(last, m.index)
    if (stack.length === 0 && between.trim() !== '') problems.push(`text outside the root at ${last}`)
    last = m.index + m[0].length
    const [whole, closing, name, attrs, selfClosing] = m
    if (name === undefined) {
      if (whole === '<') problems.push(`a bare < at ${m.index}`)
      else if (whole === '&' && !reference.test(text.slice(m.index, m.index + 12))) problems.push(`a bare & at ${m.index}`)
      continue
    }
    if (entity.test(attrs)) problems.push(`a bare & in the attributes of <${name}> at ${m.index}`)
    const names = [...attrs.matchAll(/([\w:.-]+)=/g)].map((a) => a[1])
    if (new Set(names).size !== names.length) problems.push(`an attribute twice in <${name}> at ${m.index}`)
    if (closing === '/') {
      const open = stack.pop()
      if (open !== name) problems.push(`</${name}> at ${m.index} closes <${open ?? 'nothing'}>`)
      continue
    }
    if (stack.length === 0) roots++
    if (selfClosing !== '/') stack.push(name)
  }
  if (text.slice(last).trim() !== '') problems.push('text after the root')
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' > ')}`)
  if (roots !== 1) problems.push(`${roots} root elements`)
  return problems
}
