import t from 'tap'
import { parseRate, MAX_RATE_PRODUCT } from '../../lib/config/rate.js'
import { thrown } from '../support/helpers.js'

const where = 'Route GET /x'
const path = 'config.rateLimit.ip'

t.test('units and aliases', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['5/ms', 5, 1],
    ['5/s', 5, 1000], ['5/sec', 5, 1000], ['5/second', 5, 1000], ['5/seconds', 5, 1000],
    ['10/m', 10, 60_000], ['10/min', 10, 60_000], ['10/minute', 10, 60_000], ['10/minutes', 10, 60_000],
    ['100/h', 100, 3_600_000], ['100/hr', 100, 3_600_000], ['100/hour', 100, 3_600_000], ['100/hours', 100, 3_600_000],
    ['1000/d', 1000, 86_400_000], ['1000/day', 1000, 86_400_000], ['1000/days', 1000, 86_400_000],
    ['3/5min', 3, 300_000], ['20/30s', 20, 30_000], [' 7 / 2 h ', 7, 7_200_000]
  ]
  for (const [text, limit, windowMs] of cases) {
    const rate = parseRate(text, where, path)
    t.same([rate.limit, rate.windowMs], [limit, windowMs], text)
  }
  t.equal(parseRate(' 7 / 2 h ', where, path).text, '7 / 2 h', 'keeps the text, trimmed')
})

t.test('object form', async (t) => {
  t.same(parseRate({ limit: 3, windowMs: 1500 }, where, path), { limit: 3, windowMs: 1500, text: '3/1500ms' })
})

t.test('bad rates are coded errors that name where, the path and the value', async (t) => {
  const bad: unknown[] = [
    '10/minn', '10', '/min', '10/', 'ten/min', '-1/min', '1.5/min', '10/1.5min', '0/min', '10/0min',
    '', 'abc', { limit: 0, windowMs: 1000 }, { limit: 1, windowMs: 0 }, { limit: 1.5, windowMs: 1000 },
    { limit: 1, windowMs: 10.5 }, { limit: 1, windowMs: Infinity }, { limit: '1', windowMs: 1 }, null, 5, [], true
  ]
  for (const input of bad) {
    const err = thrown(() => parseRate(input, where, path))
    t.equal(err?.code, 'FST_LIMITER_INVALID_RATE', JSON.stringify(input))
    t.match(err?.message, /^Route GET \/x: config\.rateLimit\.ip: /)
  }
  t.equal(thrown(() => parseRate('10/minn', where, path))?.message,
    "Route GET /x: config.rateLimit.ip: '10/minn' is not a rate like '10/min' or '3/5min'")
})

t.test('a rate whose arithmetic could leave exact integers is refused', async (t) => {
  t.ok(parseRate({ limit: 1000, windowMs: Math.floor(MAX_RATE_PRODUCT / 1000) }, where, path))
  t.equal(thrown(() => parseRate('99999999/365d', where, path))?.code, 'FST_LIMITER_INVALID_RATE')
  t.equal(thrown(() => parseRate('99999999999999999999/s', where, path))?.code, 'FST_LIMITER_INVALID_RATE')
})
