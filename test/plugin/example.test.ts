import t from 'tap'
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { buildExample } from '../../examples/server.js'
import { childArgs } from '../support/helpers.js'

/** Collects a child's stdout until `done(out)` holds; rejects after 30 s (a stuck start, not a timing check). */
function waitFor (child: ChildProcessWithoutNullStreams, done: (out: string) => boolean, what: string): Promise<string> {
  let out = ''
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} in 30 s: ${out}`)), 30_000)
    const onData = (chunk: Buffer) => {
      out += chunk
      if (done(out)) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        resolve(out)
      }
    }
    child.stdout.on('data', onData)
  })
}

t.test('the example API runs and shows its limits', async (t) => {
  const app = await buildExample()
  t.teardown(() => app.close())
  const feed = []
  for (let i = 0; i < 4; i++) feed.push((await app.inject('/feed')).statusCode)
  t.same(feed, [200, 200, 200, 429])
  const signedIn = await app.inject({ method: 'POST', url: '/upload', headers: { authorization: 'Bearer alice' } })
  t.equal(signedIn.json().as, 'alice')
  t.equal((await app.inject({ method: 'POST', url: '/upload' })).json().as, 'anonymous')
  t.equal(signedIn.headers['x-ratelimit-limit'], '50')
  t.equal((await app.inject('/health')).headers['x-ratelimit-limit'], undefined)
  t.equal((await app.inject({ url: '/feed', headers: { 'x-forwarded-for': '10.1.2.3' } })).statusCode, 200, 'exempt range')
  t.equal((await app.inject('/nope')).statusCode, 404)
  t.equal((await app.inject('/beta')).statusCode, 200)
  const guarded = []
  for (let i = 0; i < 6; i++) guarded.push(await app.inject('/guarded'))
  t.same(guarded.map((r) => r.statusCode), [200, 200, 429, 429, 403, 403], 'the third denial within the window: banned')
  t.equal(guarded[4].headers['retry-after'], '30')
  t.same((await app.inject('/partner')).json(), { bucket: 'ip' })
  const quota = await app.inject('/quota')
  t.match(quota.headers.ratelimit, /^limit=2, remaining=1, reset=\d+$/)
  t.equal(quota.headers['ratelimit-policy'], '2;w=60')
  await app.inject('/quota')
  const problem = await app.inject('/quota')
  t.equal(problem.statusCode, 429)
  t.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.same(problem.json()['violated-policies'], ['ip-2/min'])
  // /slow waits instead of a 429 (its timer is unref'd: the interval keeps this test process alive meanwhile)
  const alive = setInterval(() => {}, 1000)
  const slow = await Promise.all([app.inject('/slow'), app.inject('/slow')])
  clearInterval(alive)
  t.same(slow.map((r) => r.statusCode), [200, 200])
  t.equal(slow.filter((r) => r.json().waitedMs > 0).length, 1, 'the second one waited')
  // /render: one in flight per IP
  const alive2 = setInterval(() => {}, 1000)
  const renders = await Promise.all([app.inject({ method: 'POST', url: '/render' }), app.inject({ method: 'POST', url: '/render' })])
  clearInterval(alive2)
  t.same(renders.map((r) => r.statusCode).sort(), [200, 429])
  t.equal(renders.find((r) => r.statusCode === 429)?.headers['retry-after'], '1')
  t.equal((await app.inject('/stats')).json().allowed > 0, true)
  const metrics = await app.inject('/metrics')
  t.match(metrics.headers['content-type'], /^text\/plain/)
  t.match(metrics.body, /fastify_limiter_decisions_total\{route="GET \/feed",bucket="ip",outcome="denied"\} 1/)
  const doc = (await app.inject('/documentation/json')).json()
  t.match(doc.paths['/upload'].post.description, /5\/min per IP/)
  t.ok(doc.paths['/upload'].post.responses['429'].headers['Retry-After'])
  t.notOk(doc.paths['/metrics'], 'hidden')
  t.match(doc.paths['/slow'].get.description, /waits instead of a 429/)
  t.match(doc.paths['/render'].post.description, /at most 1 per IP and 2 per user in flight/)
})

t.test('the example server prints the URLs and curl lines', async (t) => {
  const { spawn } = await import('node:child_process')
  // `npm start` runs this file with tsx; here it runs on the test's loader (see childArgs)
  const child = spawn(process.execPath, childArgs('examples/server.ts'), {
    cwd: new URL('../..', import.meta.url), env: { ...process.env, PORT: '0' }
  })
  t.teardown(() => { child.kill() })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner in 30 s: ${out}`)), 30_000)
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('/documentation/json')) { clearTimeout(timer); resolve() }
    })
  })
  t.match(out, /fastify-limiter example API on http:\/\/127\.0\.0\.1:\d+/)
  t.match(out, /curl -si .*\/feed/)

  // the example's own 429 log lines show under its 'warn' logger
  const base = (out.match(/on (http:\/\/127\.0\.0\.1:\d+)/) as RegExpMatchArray)[1]
  const denied = waitFor(child, (log) => log.includes('"msg":"rate limit exceeded"'), 'denial log line')
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await fetch(`${base}/feed`)).status)
  t.same(codes, [200, 200, 200, 429])
  const line = (await denied).split('\n').find((l) => l.includes('"msg":"rate limit exceeded"')) as string
  t.match(JSON.parse(line), { level: 40, rateLimit: { route: 'GET /feed', bucket: 'ip', remaining: 0 } })

  // credentials but no such user: one warning naming the hook to use
  const warned = waitFor(child, (log) => log.includes('carry credentials'), 'credentials warning')
  const upload = await fetch(`${base}/upload`, { method: 'POST', headers: { authorization: 'Bearer carol' } })
  t.equal(((await upload.json()) as { as: string }).as, 'anonymous')
  const warning = (await warned).split('\n').find((l) => l.includes('carry credentials')) as string
  t.match(JSON.parse(warning), { level: 40, rateLimit: { route: 'POST /upload', hook: 'onRequest' }, msg: /hook: 'preHandler'/ })
})

t.test('npm start is one process: killing the pid it prints stops the server', async (t) => {
  const root = new URL('../..', import.meta.url)
  // tap's process tracking follows every spawn (and puts its loader back into NODE_OPTIONS); it is
  // told to collect no coverage here, or the server's coverage of sources transformed by tsx, not
  // by tap's loader, would be merged into the report and garble it
  const env = { ...process.env, PORT: '0', _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  const npm = spawn('npm', ['start', '--silent'], { cwd: root, env })
  t.teardown(() => { npm.kill() })
  const exited = new Promise((resolve) => npm.on('exit', resolve))
  const out = await waitFor(npm, (o) => o.includes('/documentation/json'), 'banner')
  const [, base, printed] = out.match(/on (http:\/\/127\.0\.0\.1:\d+) \(memory store, pid (\d+)/) as RegExpMatchArray
  const pid = Number(printed)
  t.teardown(() => { try { process.kill(pid) } catch {} }) // already gone when the test passes
  // the pid is the server itself, started by npm's shell with no tsx process in between
  const command = (p: number) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ')
  t.match(command(pid), /--import tsx examples\/server\.ts/)
  const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
  t.match(command(parent), /^(\S*\/)?sh -c /, 'its parent is the shell npm runs scripts with, not a tsx wrapper')
  t.equal((await fetch(`${base}/health`)).status, 200)

  process.kill(pid, 'SIGTERM')
  await exited // npm ends when its one child has
  await t.rejects(fetch(`${base}/health`), 'the port no longer answers')
})

t.test('the example login: failures count, a success resets the client', async (t) => {
  const app = await buildExample()
  t.teardown(() => app.close())
  const login = (password?: string) => app.inject({ method: 'POST', url: '/login', payload: password === undefined ? undefined : { password } })
  t.equal((await login('nope')).statusCode, 401)
  t.equal((await login()).statusCode, 401)
  t.equal((await login('secret')).statusCode, 200)
  t.equal((await login('nope')).headers['x-ratelimit-remaining'], '2', 'counting started over after the success')
})
