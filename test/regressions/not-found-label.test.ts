// Regression: a limit on the not-found handler was labelled 'undefined (not found)' in stats(),
// metrics and log lines (the not-found route has neither a method nor a URL). It is '(not found)'.
import t from 'tap'
import { build, hit } from '../support/helpers.js'

t.test("the not-found handler's requests are labelled '(not found)' in stats and logs, and reset by that name", async (t) => {
  const lines: Array<{ rateLimit?: { route: string } }> = []
  const logger = { level: 'debug', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
  const { app } = await build({}, { logger })
  app.setNotFoundHandler({ preHandler: app.rateLimit.hook('1/min') }, async (_request, reply) => reply.code(404).send('none'))
  t.same(await hit(app, '/nope', 1), [404])
  t.same(await hit(app, '/other', 1), [429], 'every not-found request shares one namespace')
  const stats = await app.rateLimit.stats()
  t.same(Object.keys(stats.routes), ['(not found)'])
  t.equal(stats.routes['(not found)'].denied, 1)
  const denial = lines.find((line) => line.rateLimit !== undefined)
  t.equal(denial?.rateLimit?.route, '(not found)', 'the log line names it so')
  await app.rateLimit.reset({ route: '(not found)', ip: '127.0.0.1' })
  t.same(await hit(app, '/again', 1), [404], 'reset by that name')
})
