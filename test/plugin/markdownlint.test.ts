// markdownlint with this project's .markdownlint-cli2.jsonc, as `npm run lint` runs it on the
// docs, reports the breakage that once scrambled docs/identity.md: a section's example moved under
// the next heading, and the stray closing fence it left behind opening a block that swallowed the
// rest of the page. (test/plugin/readme.test.ts checks the same of every page on its own.)
import t from 'tap'
import { markdownlint as lint } from '../support/markdownlint.js'

const scrambled = `# Who is counted

## Async functions

Every function may return a promise. An API key looked up in a database:

## When the user resolver finds no user

Run the limiter after authentication:

\`\`\`ts
app.get('/tenant', handler)
\`\`\`

The rest of the first example, its opening fence lost:

app.get('/me', handler)
\`\`\`

Requests without credentials are anonymous.

## Store keys

Store keys look like this.
`

t.test('a stray closing fence, and the block it opens to the end of the page, are errors', async (t) => {
  t.same(lint({ 'scrambled.md': scrambled }), [
    'scrambled.md:18 fence-closed',
    'scrambled.md:18 MD031/blanks-around-fences',
    'scrambled.md:18 MD040/fenced-code-language'
  ])
})

t.test('a fence left open is an error even when it names its language', async (t) => {
  t.same(lint({ 'open.md': '# Page\n\nText.\n\n```ts\nx()\n\n## A heading, swallowed\n' }), ['open.md:5 fence-closed'])
  t.same(lint({ 'list.md': '# Page\n\n- An item:\n\n  ```ts\n  x()\n' }), ['list.md:5 fence-closed'], 'in a list item too')
})

t.test('closed fences, nested and longer ones included, pass', async (t) => {
  t.same(lint({ 'fine.md': '# Page\n\n- An item:\n\n  ```ts\n  x()\n  ```\n\n````md\n```ts\ny()\n```\n````\n' }), [])
})
