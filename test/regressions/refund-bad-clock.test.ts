// Issue 19: a refund while the plugin's `clock` read NaN let token-bucket and leaky-bucket allow
// 14 of 14 requests at a limit of 4 (the refund ran at time NaN, which those algorithms read as
// "long ago": a full bucket). A refund at a time that is not one is a store error now: logged,
// counted, and the request stays counted.
import t from 'tap'
import Fastify from 'fastify'
import limiter from '../../index.js'
import { algorithmNames } from '../../algorithms/index.js'
import { Clock } from '../support/helpers.js'

for (const algorithm of algorithmNames) {
  t.test(`${algorithm}: a refund under a NaN clock reading refunds nothing`, async (t) => {
    const clock = new Clock()
    let broken = false
    const app = Fastify()
    await app.register(limiter, { algorithm, clock: () => broken ? Number.NaN : clock.read() })
    // every response is refunded (count: 'successful' and a 500), and the clock is broken by then
    app.get('/r', { config: { rateLimit: { ip: '4/min', count: 'successful' } } }, async (request, reply) => {
      broken = true
      return await reply.code(500).send('no')
    })
    const codes: number[] = []
    for (let i = 0; i < 14; i++) {
      codes.push((await app.inject('/r')).statusCode)
      broken = false
    }
    t.equal(codes.filter((c) => c === 500).length, 4, 'four pass, then 429s')
    t.equal((await app.rateLimit.stats()).storeErrors, 4, 'each refund is a store error')
    await app.close()
  })
}
