import t from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import limiter, { MemoryStore } from '../../index.js'
import { Clock } from '../support/helpers.js'

const ok = async () => 'ok'

t.test('each encapsulated context may register the plugin with its own options; a route uses the nearest', async (t) => {
  const clock = new Clock()
  const app = Fastify()
  const rootStore = new MemoryStore({ clock: clock.read })
  const childStore = new MemoryStore({ clock: clock.read })
  t.teardown(() => app.close())
  await app.register(limiter, { clock: clock.read, store: rootStore, global: '2/min' })
  app.get('/root', ok)
  let child: FastifyInstance | undefined
  let grandchild: FastifyInstance | undefined
  await app.register(async (instance) => {
    child = instance
    await instance.register(limiter, { clock: clock.read, store: childStore, headers: 'ietf', keyPrefix: 'child' })
    instance.get('/child', { config: { rateLimit: '1/min' } }, ok)
    instance.get('/child-free', ok)
    await instance.register(async (inner) => {
      grandchild = inner
      inner.get('/grandchild', { config: { rateLimit: '3/min' } }, ok)
    })
  }, { prefix: '/c' })
  app.get('/root-limited', { config: { rateLimit: '1/min' } }, ok)
  await app.ready()

  const codes = async (url: string, n: number) => {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push((await app.inject(url)).statusCode)
    return out
  }
  t.same(await codes('/root', 3), [200, 200, 429], "the root's global limit applies to the root's routes")
  t.same(await codes('/c/child-free', 3), [200, 200, 200], "the root's global does not reach a context with its own registration")
  t.same(await codes('/c/child', 2), [200, 429], "the child's route uses the child's registration")
  const res = await app.inject('/c/child')
  t.ok(res.headers.ratelimit, "in the child's header format")
  t.notOk(res.headers['x-ratelimit-limit'], 'and only in it')
  t.same(await codes('/c/grandchild', 4), [200, 200, 200, 429], 'a context without its own registration uses the nearest above')
  t.equal((await app.inject('/root-limited')).headers['x-ratelimit-limit'], '1')

  t.equal(app.rateLimit.store, rootStore, 'fastify.rateLimit in a context is its registration\'s API')
  t.equal(child?.rateLimit.store, childStore)
  t.equal(grandchild?.rateLimit.store, childStore)
  t.equal((await rootStore.stats()).keys, 2, 'the root store holds only the root routes\' buckets')
  t.equal((await childStore.stats()).keys, 2)
  await child?.rateLimit.reset({ route: 'GET /c/child', ip: '127.0.0.1' })
  t.same(await codes('/c/child', 1), [200], 'reset through the child API')
})

t.test('registering twice in the same context is a coded error', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(limiter)
  const err = await app.register(limiter).then(() => undefined, (e: Error & { code?: string }) => e)
  t.equal(err?.code, 'FST_LIMITER_ALREADY_REGISTERED')
})

t.test('a child registration made before the root one is the child\'s alone', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(async (instance) => {
    await instance.register(limiter, { keyPrefix: 'first' })
    instance.get('/a', { config: { rateLimit: '1/min' } }, ok)
  })
  await app.register(limiter, { global: '1/min' })
  app.get('/b', ok)
  await app.ready()
  t.same([(await app.inject('/a')).statusCode, (await app.inject('/a')).statusCode], [200, 429])
  t.same([(await app.inject('/b')).statusCode, (await app.inject('/b')).statusCode], [200, 429])
})
