// A markdownlint rule that markdownlint lacks: a code fence must be closed. A fence left open runs
// to the end of the page, so everything after it (headings, prose, other blocks) renders as code,
// and no built-in rule says so (MD040 only notices when the stray fence has no language).
// .markdownlint-cli2.jsonc loads it; test/plugin/markdownlint.test.ts proves it fires.

/** Every token of `tokens` and of their children, depth first (fences nest in lists and quotes). */
function * walk (tokens) {
  for (const token of tokens) {
    yield token
    yield * walk(token.children)
  }
}

/** @type {import('markdownlint').Rule} */
export default {
  names: ['fence-closed'],
  description: 'Code fences are closed',
  tags: ['code', 'fences'],
  parser: 'micromark',
  function (params, onError) {
    for (const token of walk(params.parsers.micromark.tokens)) {
      if (token.type !== 'codeFenced') continue
      // an opening fence and a closing one; an unclosed block has only the first
      const fences = token.children.filter((child) => child.type === 'codeFencedFence')
      if (fences.length < 2) {
        onError({
          lineNumber: token.startLine,
          detail: 'This fence is never closed: the rest of the page is code.',
          context: params.lines[token.startLine - 1]
        })
      }
    }
  }
}
