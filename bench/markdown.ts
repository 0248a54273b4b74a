// Markdown that stays Markdown whatever text goes in: the benchmark's report writes function names
// and file locations from CPU profiles into tables (`RegExp: ^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$` is one).

/**
 * `text` as inline code in a table cell: fenced by more backticks than any run of them inside it
 * (padded with a space where it starts or ends with one), and `|` escaped, since a table splits
 * its cells on `|` even inside code.
 */
export function codeCell (text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = '`'.repeat(longest + 1)
  const pad = /^`|`$/.test(text) ? ' ' : ''
  return `${fence}${pad}${cell(text)}${pad}${fence}`
}

/** `text` in a table cell: `|` escaped, line breaks as spaces. */
export function cell (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}
