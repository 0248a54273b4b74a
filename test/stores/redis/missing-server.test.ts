import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// Without redis-server the Redis tests say so loudly and skip; under
// FASTIFY_LIMITER_REQUIRE_REDIS=1 (CI) that is a failure instead.

const fixture = fileURLToPath(new URL('../../support/fixtures/needs-redis.ts', import.meta.url))

function run (env: Record<string, string>): Promise<{ code: number, output: string }> {
  const { TAP: _tap, TAP_CHILD_ID: _id, ...inherited } = process.env
  return new Promise((resolve) => {
    execFile(process.execPath, [...process.execArgv, fixture], { env: { ...inherited, PATH: '', REDIS_SERVER: '', ...env } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code), output: stdout + stderr }))
  })
}

t.test('no redis-server: a loud skip', async (t) => {
  const { code, output } = await run({ FASTIFY_LIMITER_REQUIRE_REDIS: '' })
  t.equal(code, 0)
  t.match(output, /WARNING: redis-server was not found .* the Redis store tests did NOT run/)
  t.match(output, /1\.\.0 # redis-server was not found/, 'the file is skipped with the reason')
})

t.test('no redis-server under FASTIFY_LIMITER_REQUIRE_REDIS=1: a failure', async (t) => {
  const { code, output } = await run({ FASTIFY_LIMITER_REQUIRE_REDIS: '1' })
  t.equal(code, 1)
  t.match(output, /not ok .*FASTIFY_LIMITER_REQUIRE_REDIS=1 makes that a failure/)
})
