import t from 'tap'
import * as exported from '../../algorithms/index.js'

const { algorithms, algorithmNames } = exported

t.test('every name the option accepts has its algorithm, under its own name', async (t) => {
  t.same(Object.keys(algorithms).sort(), [...algorithmNames].sort())
  for (const name of algorithmNames) t.equal(algorithms[name].name, name)
})

t.test('codes are short and distinct, so store keys of two algorithms never meet', async (t) => {
  const codes = algorithmNames.map((name) => algorithms[name].code)
  t.equal(new Set(codes).size, codes.length)
  for (const code of codes) t.match(code, /^[a-z]{2}$/)
})

t.test('only the buckets take a burst', async (t) => {
  const withBurst = algorithmNames.filter((name) => algorithms[name].usesBurst)
  t.same(withBurst, ['token-bucket', 'leaky-bucket', 'gcra'])
})

t.test('each algorithm function is exported for custom stores, and is the one the table runs', async (t) => {
  const functions: Record<string, unknown> = {
    'fixed-window': exported.fixedWindow,
    'sliding-window': exported.slidingWindow,
    'sliding-log': exported.slidingLog,
    'token-bucket': exported.tokenBucket,
    'leaky-bucket': exported.leakyBucket,
    gcra: exported.gcra
  }
  for (const name of algorithmNames) t.equal(algorithms[name].consume, functions[name], name)
})
