// Issue 19: `app.close()` on a listening server with requests waiting in `delay` took as long as
// the longest wait (20 s in a test), although docs/responses.md says every waiter is decided at
// once on close: the waiters were decided in onClose, which Fastify runs only after the server has
// waited for its requests. And with inject() in a script, a waiting request let the process exit
// silently (exit code 13): the wait timers were unref'd.
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { build, childArgs } from '../support/helpers.js'

t.test('close on a listening server answers waiting requests at once', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: '1/min', delay: { maxMs: 60_000 } } } }, async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/r`
  t.equal((await fetch(url)).status, 200)
  // these wait: the window ends in up to a minute (the injected clock does not move)
  const waiting = [fetch(url), fetch(url)]
  await new Promise((resolve) => setTimeout(resolve, 100))
  const started = performance.now()
  const closing = app.close()
  const statuses = (await Promise.all(waiting)).map((r) => r.status)
  await closing
  const took = performance.now() - started
  t.same(statuses, [429, 429], 'decided at once: still over the limit')
  t.ok(took < 10_000, `close took ${Math.round(took)} ms, not the wait's minute`)
})

t.test('a request waiting in the delay line keeps a script alive until it is answered', async (t) => {
  const fixture = fileURLToPath(new URL('../support/fixtures/delay-inject.ts', import.meta.url))
  const { code, stdout } = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
    execFile(process.execPath, childArgs(fixture), { timeout: 60_000 }, (err, stdout) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout })
    })
  })
  t.equal(code, 0, 'the script ran to its end')
  t.equal(stdout.trim(), '200 0', 'the waiting request passed once the window ended')
})
