import t from 'tap'
import { build, hit } from '../support/helpers.js'

t.test('the limit sees a user set by authentication in an earlier hook (route-level hooks run after instance ones)', async (t) => {
  for (const [hook, expected] of [['preHandler', 'user'], ['preValidation', 'user'], ['onRequest', 'ip']] as const) {
    const { app } = await build({ hook })
    app.addHook('preValidation', async (request) => {
      (request as unknown as { user: { id: string } }).user = { id: 'alice' }
    })
    app.get('/me', { config: { rateLimit: { ip: '1/min', user: '2/min' } } }, async (request) => request.rateLimit)
    const res = await app.inject('/me')
    t.equal(res.json().bucket, expected, `${hook}: ${expected} bucket`)
  }
})

t.test('the limit runs in the chosen hook and still short-circuits with 429', async (t) => {
  let handled = 0
  const { app } = await build({ hook: 'preHandler' })
  app.post('/body', { config: { rateLimit: '1/min' } }, async () => { handled++; return 'ok' })
  const post = () => app.inject({ method: 'POST', url: '/body', payload: { a: 1 } })
  t.equal((await post()).statusCode, 200)
  t.equal((await post()).statusCode, 429)
  t.equal(handled, 1)
  t.same(await hit(app, '/body', 1), [404])
})
