// Issue 19: a throwing resolver's message ("session store down") was sent to the client in the
// 500 body, and logged twice ("threw: session store down: session store down"). The body names
// the route and the function; the cause is in the log, once.
import t from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import limiter from '../../index.js'

t.test('the resolver\'s own error stays in the log, once, and out of the body', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, next) { lines.push(String(chunk)); next() } })
  const app = Fastify({ logger: { level: 'error', stream } })
  await app.register(limiter, { user: () => { throw new Error('session store down at 10.0.0.7') } })
  app.get('/r', { config: { rateLimit: { user: '10/min', ip: '10/min' } } }, async () => 'ok')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.notMatch(res.body, /session store down/, 'no cause text for the client')
  t.equal(res.json().message, 'Route GET /r: the user function threw (its error is the cause)')
  const logged = lines.map((line) => JSON.parse(line) as { msg: string, err: { message: string, stack: string } })
  t.equal(logged.length, 1, 'one line')
  const [{ msg, err }] = logged
  t.equal(msg, 'Route GET /r: the user function threw (its error is the cause)')
  t.equal(err.message, 'Route GET /r: the user function threw (its error is the cause): session store down at 10.0.0.7', 'the cause said once')
  t.match(err.stack, /caused by: Error: session store down at 10\.0\.0\.7/, 'with its stack')
  await app.close()
})

t.test('an exempt function that throws: the same', async (t) => {
  const app = Fastify()
  await app.register(limiter, { exempt: () => { throw new Error('secret') } })
  app.get('/r', { config: { rateLimit: '10/min' } }, async () => 'ok')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.notMatch(res.body, /secret/)
  await app.close()
})
