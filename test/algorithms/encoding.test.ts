import t from 'tap'
import fc from 'fast-check'
import { algorithmNames, algorithms } from '../../algorithms/index.js'
import { decodeState, encodeState } from '../../algorithms/encoding.js'
import { expect, extremeParamsArb, paramsArb, replay, scenarioArb } from '../support/algorithms.js'

// The text form of a state, which the SQLite store writes and the Lua twins read and write
// (test/stores/redis/agreement.test.ts checks that Redis holds the same text).

for (const name of algorithmNames) {
  const algorithm = algorithms[name]
  t.test(`${name}: every state reads back from its text as it was`, async () => {
    for (const params of [paramsArb, extremeParamsArb]) {
      fc.assert(fc.property(scenarioArb(params(algorithm), { jitter: true }), (scenario) => {
        for (const { result: { state } } of replay(algorithm, scenario)) {
          const text = encodeState(algorithm, state as object)
          expect(/^-?\d+(,-?\d+)*$/.test(text), `${text} is not integers and commas`)
          const back = decodeState(algorithm, text)
          expect(JSON.stringify(back) === JSON.stringify(state), `${text} reads back as ${JSON.stringify(back)}`)
        }
      }))
    }
  })
}

t.test('the text is the fields in order, then one tuple per entry', async (t) => {
  t.equal(encodeState(algorithms['token-bucket'], { n: 4, f: 250, t: 1767225600000 }), '4,250,1767225600000')
  t.equal(encodeState(algorithms['sliding-log'], { t: 1767225600000, d: [0, 5, 9], c: [1, 2, 3] }), '1767225600000,0,1,5,2,9,3')
  t.same(decodeState(algorithms['sliding-log'], '1767225600000,0,1,5,2'), { t: 1767225600000, d: [0, 5], c: [1, 2] })
  t.equal(encodeState(algorithms.gcra, { t: 2 ** 53 - 1, f: 0 }), '9007199254740991,0', 'whole, never as an exponent')
})

// A plain Error: the SQLite store wraps it in FST_LIMITER_SQLITE_FAILED (test/store-sqlite.test.ts)
t.test('a text that is not a state throws', async (t) => {
  const damaged = [
    ['fixed-window', '{not json'],
    ['fixed-window', ''],
    ['fixed-window', '1'],
    ['fixed-window', '1,2,3'],
    ['fixed-window', '1,x'],
    ['fixed-window', '1,2.5'],
    ['fixed-window', '1,1e3'],
    ['fixed-window', '1, 2'],
    ['fixed-window', '1,9007199254740992'],
    ['fixed-window', '1,12345678901234567'],
    ['sliding-log', '1767225600000,0'],
    ['sliding-log', '1767225600000,0,1,5']
  ] as const
  for (const [name, text] of damaged) {
    t.throws(() => decodeState(algorithms[name], text), `${name} ${JSON.stringify(text)}`)
  }
})
