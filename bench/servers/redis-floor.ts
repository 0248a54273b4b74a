// The Redis floor: the least a Redis-backed limiter that batches can cost per request. The
// requests of one turn of the event loop go to Redis in ONE EVALSHA of a script that reads and
// writes nothing (one key per request out, one integer per request back), and the same three
// headers are set from its reply. A limiter that asks Redis about every request cannot do less.
import type { FastifyInstance, FastifyReply, HookHandlerDoneFunction } from 'fastify'
import type { Redis } from 'ioredis'

/** One integer per key, at once. */
const SCRIPT = 'local r = {} for i = 1, #KEYS do r[i] = 1 end return r'

/** Adds the floor's onRequest hook to `app`, on `client`; `limit` is the limit the headers announce. */
export async function redisFloor (app: FastifyInstance, client: Redis, limit: number): Promise<void> {
  const sha = await client.script('LOAD', SCRIPT) as string
  // the open batch: the requests of this turn, in arrival order
  let keys: string[] = []
  let replies: FastifyReply[] = []
  let dones: HookHandlerDoneFunction[] = []
  const flush = (): void => {
    const sent = { keys, replies, dones }
    keys = []
    replies = []
    dones = []
    client.call('evalsha', sha, sent.keys.length, ...sent.keys).then((counts) => {
      const reset = Math.ceil(Date.now() / 1000) + 3600
      for (let i = 0; i < sent.replies.length; i++) {
        const reply = sent.replies[i]
        reply.header('x-ratelimit-limit', limit)
        reply.header('x-ratelimit-remaining', limit - (counts as number[])[i])
        reply.header('x-ratelimit-reset', reset)
        sent.dones[i]()
      }
    }, (err: Error) => {
      for (const done of sent.dones) done(err)
    })
  }
  // callback style, as the three-header hook: no promise per request
  app.addHook('onRequest', (request, reply, done) => {
    // the end of this turn, as the plugin's Redis store batches: after the I/O callbacks that
    // are running, before any timer
    if (keys.length === 0) setImmediate(flush)
    keys.push(`floor:${request.ip}`)
    replies.push(reply)
    dones.push(done)
  })
}
