// BENCHMARKS.md's CPU profile tables broke on a function name V8 reported for a regular
// expression, `RegExp: ^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$`: written between single backticks, its own
// backtick ended the code early and its `|` split the row into five cells (markdownlint MD056).
// bench/report.ts now writes such cells with codeCell() and cell().
import t from 'tap'
import { cell, codeCell } from '../../bench/markdown.js'
import { markdownlint } from '../support/markdownlint.js'

const regexp = "RegExp: ^[\\^_`a-zA-Z\\-0-9!#$%&'*+.|~]+$"

t.test('a name with backticks and pipes is one code cell', async (t) => {
  t.equal(codeCell(regexp), "``RegExp: ^[\\^_`a-zA-Z\\-0-9!#$%&'*+.\\|~]+$``")
  t.equal(codeCell('`x`'), '`` `x` ``', 'a backtick at an end is padded off the fence')
  t.equal(codeCell('writev'), '`writev`')
  t.equal(cell('a|b\nc'), 'a\\|b c')
})

t.test('a profile table of such names passes markdownlint', async (t) => {
  const rows = [regexp, '`x`', 'a ``` b', 'writev'].map((fn) => `| 0.3 | 12 | ${codeCell(fn)} | ${cell('node:internal|x:1')} |`)
  const page = ['# Profile', '', '| self % of busy | self ms | function | where |', '|---|---|---|---|', ...rows, ''].join('\n')
  t.same(markdownlint({ 'profile.md': page }), [])
  const before = ['# Profile', '', '| self % of busy | self ms | function | where |', '|---|---|---|---|', `| 0.3 | 12 | \`${regexp}\` |  |`, ''].join('\n')
  t.same(markdownlint({ 'before.md': before }), ['before.md:5 MD056/table-column-count'], 'the row as it was written before')
})
