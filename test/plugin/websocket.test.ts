// The WebSocket recipe of docs/recipes.md, with @fastify/websocket and a real client: each message
// is charged to the upgrade route's buckets through fastify.rateLimit.consume(request), and a
// client over its limit gets an error frame (the message is dropped, the connection stays open).
import t from 'tap'
import { once } from 'node:events'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import limiter from '../../index.js'
import { Clock } from '../support/helpers.js'

t.test('each message is charged to the route; over the limit, an error frame', async (t) => {
  const clock = new Clock()
  const app = Fastify()
  await app.register(websocket)
  await app.register(limiter, { clock: clock.read, algorithm: 'fixed-window' })
  app.get('/ws', { websocket: true, config: { rateLimit: { ip: '5/min' } } }, (socket, request) => {
    socket.on('message', async (data) => {
      const decision = await app.rateLimit.consume(request)
      if (decision !== undefined && !decision.allowed && decision.dryRun !== true) {
        socket.send(JSON.stringify({ error: 'rate_limited', retryAfter: Math.ceil(decision.retryAfterMs / 1000) }))
        return
      }
      socket.send(`echo ${String(data)}`)
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  await once(client, 'open')
  const frames: string[] = []
  client.on('message', (data) => frames.push(String(data)))
  for (let i = 1; i <= 6; i++) {
    client.send(`m${i}`)
    while (frames.length < i) await once(client, 'message')
  }
  t.same(frames, ['echo m1', 'echo m2', 'echo m3', 'echo m4', '{"error":"rate_limited","retryAfter":40}', '{"error":"rate_limited","retryAfter":40}'])
  // the window ends: messages pass again
  clock.advance(40_000)
  client.send('m7')
  await once(client, 'message')
  t.equal(frames[6], 'echo m7')
  // the upgrade request took one unit of the window's five, the four messages the rest; a new
  // connection from the same IP shares the bucket, and its upgrade is charged too
  const peeked = await app.rateLimit.peek({ route: 'GET /ws', ip: '127.0.0.1' })
  t.match(peeked, { allowed: true, remaining: 3 }, 'm7 took one unit of the new window')
  const second = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  await once(second, 'open')
  t.match(await app.rateLimit.peek({ route: 'GET /ws', ip: '127.0.0.1' }), { remaining: 2 })
  second.close()
  client.close()
  await once(client, 'close')
})

t.test('an upgrade over the limit is refused with the 429 before any socket opens', async (t) => {
  const clock = new Clock()
  const app = Fastify()
  await app.register(websocket)
  await app.register(limiter, { clock: clock.read, algorithm: 'fixed-window' })
  app.get('/ws', { websocket: true, config: { rateLimit: { ip: '1/min' } } }, (socket) => { socket.send('hi') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`
  const first = new WebSocket(url)
  await once(first, 'message')
  first.close()
  const second = new WebSocket(url)
  // the client reports the refused handshake as an error (its 'unexpected-response' is handled here)
  second.on('error', () => {})
  const [request, response] = await once(second, 'unexpected-response') as [{ destroy: () => void }, { statusCode: number, headers: Record<string, string>, resume: () => void }]
  t.equal(response.statusCode, 429)
  t.equal(response.headers['retry-after'], '40')
  response.resume()
  request.destroy()
})
