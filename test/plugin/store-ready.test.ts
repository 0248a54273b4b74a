import t from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import limiter from '../../index.js'
import { MemoryStore } from '../../stores/memory.js'

// The plugin's onReady wait for a store's ready(): bounded, one error line when the store is not
// ready (whatever it rejects with), and the app starts anyway, deciding by onStoreError.

/** A memory store whose ready() does what `ready` says. */
class SlowStore extends MemoryStore {
  readonly #ready: () => Promise<void>
  constructor (ready: () => Promise<void>) {
    super()
    this.#ready = ready
  }

  ready (): Promise<void> {
    return this.#ready()
  }
}

async function errorsOf (ready: () => Promise<void>): Promise<Array<{ msg: string }>> {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  const store = new SlowStore(ready)
  await app.register(limiter, { store })
  app.get('/', { config: { rateLimit: '2/min' } }, async () => 'ok')
  await app.ready()
  t.equal((await app.inject('/')).statusCode, 200, 'the app started')
  await app.close()
  store.close()
  return lines.filter((line) => line.level >= 50)
}

const line = (reason: string): string => `fastify-limiter: the rate-limit store is not ready (${reason}); requests follow onStoreError until it is`

t.test('a store that rejects with an error that has a code', async (t) => {
  const errors = await errorsOf(() => Promise.reject(Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' })))
  t.same(errors.map((e) => e.msg), [line('ECONNREFUSED: connect refused')])
})

t.test('a store that rejects with an error whose message names its code', async (t) => {
  const errors = await errorsOf(() => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })))
  t.same(errors.map((e) => e.msg), [line('connect ECONNREFUSED 127.0.0.1:1')])
})

t.test('a store that rejects with something that is not an error', async (t) => {
  // eslint-disable-next-line prefer-promise-reject-errors
  const errors = await errorsOf(() => Promise.reject('no route to host'))
  t.same(errors.map((e) => e.msg), [line('no route to host')])
})

t.test('a store that never gets ready: ready() goes on after the bound', async (t) => {
  const errors = await errorsOf(() => new Promise(() => {}))
  t.same(errors.map((e) => e.msg), [line('not connected after 2000 ms')])
})

t.test('a store that gets ready: no line', async (t) => {
  t.same(await errorsOf(async () => {}), [])
})
