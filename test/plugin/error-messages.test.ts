import t from 'tap'
import Fastify from 'fastify'
import limiter from '../../index.js'
import { MemoryStore } from '../../stores/memory.js'
import { LimitObjectSchema, PluginOptionsSchema } from '../../lib/config/schema.js'
import { thrown } from '../support/helpers.js'

// Every registration error names the one thing that is wrong, by its option path, with what that
// place takes and what it got, and carries the right code: FST_LIMITER_INVALID_OPTION for the
// plugin's options (`global` included), FST_LIMITER_INVALID_ROUTE_CONFIG for a route's config and
// a hook() limit. A missing key is named as missing, never answered with its parent's whole shape.
// Each row: the option or route field it covers, the bad input, the code (FST_LIMITER_ left off),
// the whole message.

type Row = [field: string, input: unknown, code: string, message: string]

const ok = async () => 'ok'

const pluginRows: Row[] = [
  ['(options)', 'x', 'INVALID_OPTION',
    "fastify-limiter options: expected an object, received 'x'"],
  ['(options)', { nope: 1 }, 'INVALID_OPTION',
    'fastify-limiter option nope: expected a known option (store, sqlite, redis, algorithm, global, user, key, rate, hook, keyPrefix, headers, deniedHeaders, errorFormat, statusCode, errorResponseBuilder, exempt, dryRun, onStoreError, settle, count, storeTimeoutMs, delay, ban, onBan, leaseMs, ipv6Subnet, onExceeding, onExceeded, clock, openapi, metrics, log), received an unknown option'],
  ['store', { store: 'memory' }, 'INVALID_OPTION',
    "fastify-limiter option store: expected a store instance (consume, reset, clear, stats, close), received 'memory'"],
  ['store', { store: { consume () {} } }, 'INVALID_STORE',
    'fastify-limiter option store: the store lacks reset(), clear(), stats(), close()'],
  ['sqlite', { sqlite: 5 }, 'INVALID_OPTION',
    "fastify-limiter option sqlite: expected a database file path like 'limits.db', or { path, cleanupIntervalMs, busyTimeoutMs, batch }, received 5"],
  ['sqlite', { sqlite: {} }, 'INVALID_OPTION',
    "fastify-limiter option sqlite.path: expected a database file path like 'limits.db', received nothing (`path` is missing)"],
  ['sqlite', { sqlite: { path: 'limits.db', batch: 1 } }, 'INVALID_OPTION',
    'fastify-limiter option sqlite.batch: expected true or false, received 1'],
  ['sqlite', { sqlite: { path: 'limits.db', cleanupIntervalMs: 0 } }, 'INVALID_OPTION',
    'fastify-limiter option sqlite.cleanupIntervalMs: expected a positive integer, received 0'],
  ['sqlite', { sqlite: ':memory:', store: new MemoryStore() }, 'INVALID_OPTION',
    'fastify-limiter option sqlite: expected no store option beside it (sqlite is shorthand for a SqliteStore), received both store and sqlite'],
  ['redis', { redis: 'http://x' }, 'INVALID_OPTION',
    "fastify-limiter option redis: expected a URL like 'redis://localhost:6379', an ioredis or iovalkey client or Cluster, or true to use fastify.redis from @fastify/redis, received 'http://x'"],
  ['redis', { redis: true }, 'INVALID_OPTION',
    'fastify-limiter option redis: expected fastify.redis, from @fastify/redis registered before fastify-limiter, when it is true, received true without fastify.redis'],
  ['algorithm', { algorithm: 'magic' }, 'INVALID_OPTION',
    "fastify-limiter option algorithm: expected one of 'fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'leaky-bucket', 'gcra', received 'magic'"],
  ['global', { global: 100 }, 'INVALID_OPTION',
    "fastify-limiter option global: expected a rate string like '10/min' or an object with ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError, headers, deniedHeaders, errorFormat, statusCode, apply, count, settle, delay, concurrency, ban, onBan, exempt, onExceeding, onExceeded, received 100"],
  ['global', { global: {} }, 'INVALID_OPTION',
    'fastify-limiter option global: expected ip, user, key with rate, or concurrency (a limit needs one of them), received {}'],
  ['global', { global: { ip: '5/lightyear' } }, 'INVALID_RATE',
    "fastify-limiter option: global.ip: '5/lightyear' is not a rate like '10/min' or '3/5min' ('lightyear' is not a unit; units: ms, msec, s, sec, secs, second, seconds, m, min, mins, minute, minutes, h, hr, hrs, hour, hours, d, day, days)"],
  ['global', { global: { ip: '1/s', burst: 3 } }, 'INVALID_OPTION',
    'fastify-limiter option global.burst: expected no burst with sliding-window (burst applies to token-bucket, leaky-bucket and gcra), received 3'],
  ['global', { global: { ip: '1/s', ban: { after: 3 } } }, 'INVALID_OPTION',
    "fastify-limiter option global.ban.for: expected a duration like '15min' or milliseconds, received nothing (`for` is missing)"],
  ['global', { global: { ip: '1/s', nope: 1 } }, 'INVALID_OPTION',
    'fastify-limiter option global.nope: expected a known option (ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError, headers, deniedHeaders, errorFormat, statusCode, apply, count, settle, delay, concurrency, ban, onBan, exempt, onExceeding, onExceeded), received an unknown option'],
  ['user', { user: 'id' }, 'INVALID_OPTION',
    "fastify-limiter option user: expected a function (request) => string | number | undefined, received 'id'"],
  ['key', { key: 'x-api-key', rate: '1/s' }, 'INVALID_OPTION',
    "fastify-limiter option key: expected a function (request) => string | number | undefined, received 'x-api-key'"],
  ['key', { key: () => 'k' }, 'INVALID_OPTION',
    'fastify-limiter option key: expected rate beside key (key and rate go together), received key without rate'],
  ['rate', { rate: '1/s' }, 'INVALID_OPTION',
    'fastify-limiter option rate: expected key beside rate (key and rate go together), received rate without key'],
  ['rate', { key: () => 'k', rate: '10/minn' }, 'INVALID_RATE',
    "fastify-limiter option: rate: '10/minn' is not a rate like '10/min' or '3/5min'"],
  ['rate', { key: () => 'k', rate: ['1/s', '1/1000ms'] }, 'INVALID_OPTION',
    'fastify-limiter option rate: expected each rate listed once, received ["1/s","1/1000ms"], the same rate twice'],
  ['hook', { hook: 'onSend' }, 'INVALID_OPTION',
    "fastify-limiter option hook: expected one of 'onRequest', 'preValidation', 'preHandler', received 'onSend'"],
  ['keyPrefix', { keyPrefix: 'a b' }, 'INVALID_OPTION',
    "fastify-limiter option keyPrefix: expected up to 64 characters of A-Z a-z 0-9 . _ : -, received 'a b'"],
  ['headers', { headers: 'draft7' }, 'INVALID_OPTION',
    "fastify-limiter option headers: expected 'legacy', 'ietf', false, 'draft-6', 'draft-7', 'draft-8', 'draft-10', or { limit, remaining, reset, retryAfter } header names (each a name or false), received 'draft7'"],
  ['headers', { headers: { limit: 'x y' } }, 'INVALID_OPTION',
    "fastify-limiter option headers.limit: expected an HTTP field name (letters, digits and !#$%&'*+-.^_`|~), or false (not sent), received 'x y'"],
  ['headers', { headers: { nope: 'x' } }, 'INVALID_OPTION',
    'fastify-limiter option headers.nope: expected a known option (limit, remaining, reset, retryAfter), received an unknown option'],
  ['deniedHeaders', { deniedHeaders: { retryAfter: true } }, 'INVALID_OPTION',
    "fastify-limiter option deniedHeaders.retryAfter: expected an HTTP field name (letters, digits and !#$%&'*+-.^_`|~), or false (not sent), received true"],
  ['errorFormat', { errorFormat: 'json' }, 'INVALID_OPTION',
    "fastify-limiter option errorFormat: expected one of 'plain', 'problem', received 'json'"],
  ['statusCode', { statusCode: 200 }, 'INVALID_OPTION',
    'fastify-limiter option statusCode: expected an integer from 400 to 599, received 200'],
  ['errorResponseBuilder', { errorResponseBuilder: {} }, 'INVALID_OPTION',
    'fastify-limiter option errorResponseBuilder: expected a function (request, context) => body (or a promise of it), received {}'],
  ['exempt', { exempt: '127.0.0.1' }, 'INVALID_OPTION',
    "fastify-limiter option exempt: expected an array of IPs and CIDRs like ['127.0.0.1', '10.0.0.0/8'], or a function (request) => boolean, received '127.0.0.1'"],
  ['exempt', { exempt: ['x.y'] }, 'INVALID_OPTION',
    "fastify-limiter option exempt[0]: expected an IP or CIDR like '10.0.0.0/8', received 'x.y'"],
  ['dryRun', { dryRun: 1 }, 'INVALID_OPTION',
    'fastify-limiter option dryRun: expected true or false, received 1'],
  ['onStoreError', { onStoreError: 'crash' }, 'INVALID_OPTION',
    "fastify-limiter option onStoreError: expected one of 'fallback', 'allow', 'deny', received 'crash'"],
  ['settle', { settle: 'tokens' }, 'INVALID_OPTION',
    "fastify-limiter option settle: expected a function (request, reply) => number, received 'tokens'"],
  ['count', { count: 'some' }, 'INVALID_OPTION',
    "fastify-limiter option count: expected one of 'all', 'failed', 'successful' or a function (request, reply) => boolean, received 'some'"],
  ['storeTimeoutMs', { storeTimeoutMs: 0 }, 'INVALID_OPTION',
    'fastify-limiter option storeTimeoutMs: expected an integer from 1 to 60000, received 0'],
  ['delay', { delay: {} }, 'INVALID_OPTION',
    'fastify-limiter option delay.maxMs: expected an integer from 1 to 60000, received nothing (`maxMs` is missing)'],
  ['delay', { delay: { maxMs: 1, queue: 0 } }, 'INVALID_OPTION',
    'fastify-limiter option delay.queue: expected an integer from 1 to 1000000, received 0'],
  ['ban', { ban: { after: 3 } }, 'INVALID_OPTION',
    "fastify-limiter option ban.for: expected a duration like '15min' or milliseconds, received nothing (`for` is missing)"],
  ['ban', { ban: { after: 3, for: 'soon' } }, 'INVALID_OPTION',
    "fastify-limiter option ban.for: expected a duration like '15min' or milliseconds, from 1 ms to 365 days, received 'soon'"],
  ['ban', { ban: { after: 3, for: '1h', max: '1min' } }, 'INVALID_OPTION',
    "fastify-limiter option ban.max: expected a duration at least as long as for (3600000 ms), received '1min' (60000 ms)"],
  ['ban', { ban: { after: 1, for: '1min', backoff: 1.0001 } }, 'INVALID_OPTION',
    'fastify-limiter option ban.backoff: expected a number from 1 to 100 in steps of 0.001, received 1.0001'],
  ['ban', { ban: { after: 1, for: '1min', extra: 1 } }, 'INVALID_OPTION',
    'fastify-limiter option ban.extra: expected a known option (after, for, backoff, max, statusCode, extend), received an unknown option'],
  ['onBan', { onBan: 5 }, 'INVALID_OPTION',
    'fastify-limiter option onBan: expected a function (request, context) => void, received 5'],
  ['leaseMs', { leaseMs: 10 }, 'INVALID_OPTION',
    'fastify-limiter option leaseMs: expected an integer from 1000 to 86400000, received 10'],
  ['ipv6Subnet', { ipv6Subnet: 129 }, 'INVALID_OPTION',
    'fastify-limiter option ipv6Subnet: expected an integer from 1 to 128, received 129'],
  ['onExceeding', { onExceeding: 'log' }, 'INVALID_OPTION',
    "fastify-limiter option onExceeding: expected a function (request, context) => void, received 'log'"],
  ['onExceeded', { onExceeded: true }, 'INVALID_OPTION',
    'fastify-limiter option onExceeded: expected a function (request, context) => void, received true'],
  ['clock', { clock: 5 }, 'INVALID_OPTION',
    'fastify-limiter option clock: expected a function () => epoch milliseconds, received 5'],
  ['openapi', { openapi: 'yes' }, 'INVALID_OPTION',
    "fastify-limiter option openapi: expected true, false, or { errorSchema } (the JSON schema of your 429 body), received 'yes'"],
  ['openapi', { openapi: { errorSchema: 5 } }, 'INVALID_OPTION',
    'fastify-limiter option openapi.errorSchema: expected the JSON schema of your 429 body, an object, received 5'],
  ['metrics', { metrics: { prefix: '1x' } }, 'INVALID_OPTION',
    "fastify-limiter option metrics.prefix: expected a metric-name prefix of A-Z a-z 0-9 _ : (no digit first), received '1x'"],
  ['metrics', { metrics: { registry: 5 } }, 'INVALID_OPTION',
    'fastify-limiter option metrics.registry: expected a prom-client Registry, received 5'],
  ['log', { log: { denied: 'loud' } }, 'INVALID_OPTION',
    "fastify-limiter option log.denied: expected one of 'trace', 'debug', 'info', 'warn', 'error', 'fatal', false, received 'loud'"],
  ['log', { log: { identity: 'plain' } }, 'INVALID_OPTION',
    "fastify-limiter option log.identity: expected one of 'hash', 'raw', false, received 'plain'"],
  ['log', { log: { nope: 1 } }, 'INVALID_OPTION',
    'fastify-limiter option log.nope: expected a known option (denied, dryRun, identity), received an unknown option']
]

const routeRows: Row[] = [
  ['(limit)', true, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit: expected a rate string like '10/min', false, or an object with ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError, headers, deniedHeaders, errorFormat, statusCode, apply, count, settle, delay, concurrency, ban, onBan, exempt, onExceeding, onExceeded, received true"],
  ['(limit)', { cost: 2 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit: expected ip, user, key with rate, or concurrency (a limit needs one of them), received {"cost":2}'],
  ['(limit)', { ip: '1/s', foo: 1 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.foo: expected a known option (ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError, headers, deniedHeaders, errorFormat, statusCode, apply, count, settle, delay, concurrency, ban, onBan, exempt, onExceeding, onExceeded), received an unknown option'],
  ['ip', { ip: 5 }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ip: expected a rate like '10/min' or '3/5min', { limit, windowMs }, a non-empty array of them, or a function (request) => rate | rate[] | undefined, received 5"],
  ['ip', { ip: [] }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ip: expected a non-empty array of rates like '10/min' or { limit, windowMs }, received []"],
  ['ip', { ip: { limit: 1 } }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.ip.windowMs: expected a positive integer (milliseconds), received nothing (`windowMs` is missing)'],
  ['ip', { ip: ['1/s', 5] }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ip[1]: expected a rate like '10/min' or '3/5min', or { limit, windowMs }, received 5"],
  ['ip', { ip: '10/minn' }, 'INVALID_RATE',
    "Route POST /upload: config.rateLimit.ip: '10/minn' is not a rate like '10/min' or '3/5min'"],
  ['ip', { ip: { limit: 1, windowMs: 'x' } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ip.windowMs: expected a positive integer (milliseconds), received 'x'"],
  ['user', { user: 5 }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.user: expected a rate like '10/min' or '3/5min', { limit, windowMs }, a non-empty array of them, or a function (request) => rate | rate[] | undefined, received 5"],
  ['key', { ip: '1/s', key: 'x-api-key' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.key: expected a function (request) => string | number | undefined, or false (not the plugin's key), received 'x-api-key'"],
  ['key', { ip: '1/s', key: () => 'k' }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.key: expected rate beside key (key and rate go together), received key without rate'],
  ['key', { ip: '1/s', key: false, rate: '1/s' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.rate: expected no rate beside key: false (a limit's rate is its key's, and key: false turns the plugin's key off), received rate with key: false"],
  ['settle', { ip: '1/s', settle: 5 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.settle: expected a function (request, reply) => number, received 5'],
  ['rate', { ip: '1/s', rate: '1/s' }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.rate: expected key beside rate (key and rate go together), received rate without key'],
  ['cost', { ip: '1/s', cost: 0 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.cost: expected a positive integer or a function (request) => number, received 0'],
  ['cost', { ip: '5/s', cost: 6 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.cost: expected a cost of at most 5, the smallest capacity of the limit (no request could pass a higher one), received 6'],
  ['algorithm', { ip: '1/s', algorithm: 'nope' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.algorithm: expected one of 'fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'leaky-bucket', 'gcra', received 'nope'"],
  ['burst', { ip: '1/s', burst: 3 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.burst: expected no burst with sliding-window (burst applies to token-bucket, leaky-bucket and gcra), received 3'],
  ['burst', { ip: '1/s', algorithm: 'gcra', burst: 0 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.burst: expected a positive integer, received 0'],
  ['burst', { ip: '1/s', algorithm: 'token-bucket', burst: 1001 }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ip: expected a burst of at most 1000 × the limit, and burst × window in ms at most 2251799813685247, received burst 1001 for '1/s'"],
  ['group', { ip: '1/s', group: '' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.group: expected a non-empty string, received ''"],
  ['dryRun', { ip: '1/s', dryRun: 'yes' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.dryRun: expected true or false, received 'yes'"],
  ['onStoreError', { ip: '1/s', onStoreError: 'crash' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.onStoreError: expected one of 'fallback', 'allow', 'deny', received 'crash'"],
  ['headers', { ip: '1/s', headers: 'draft7' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.headers: expected 'legacy', 'ietf', false, 'draft-6', 'draft-7', 'draft-8', 'draft-10', or { limit, remaining, reset, retryAfter } header names (each a name or false), received 'draft7'"],
  ['headers', { ip: '1/s', headers: { limit: 'a:b' } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.headers.limit: expected an HTTP field name (letters, digits and !#$%&'*+-.^_`|~), or false (not sent), received 'a:b'"],
  ['deniedHeaders', { ip: '1/s', deniedHeaders: 'draft-9' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.deniedHeaders: expected 'legacy', 'ietf', false, 'draft-6', 'draft-7', 'draft-8', 'draft-10', or { limit, remaining, reset, retryAfter } header names (each a name or false), received 'draft-9'"],
  ['errorFormat', { ip: '1/s', errorFormat: 'json' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.errorFormat: expected one of 'plain', 'problem', received 'json'"],
  ['statusCode', { ip: '1/s', statusCode: 429.5 }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.statusCode: expected an integer from 400 to 599, received 429.5'],
  ['apply', { ip: '1/s', apply: 'some' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.apply: expected one of 'first', 'all', received 'some'"],
  ['count', { ip: '1/s', count: 'some' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.count: expected one of 'all', 'failed', 'successful' or a function (request, reply) => boolean, received 'some'"],
  ['delay', { ip: '1/s', delay: {} }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.delay.maxMs: expected an integer from 1 to 60000, received nothing (`maxMs` is missing)'],
  ['delay', { ip: '1/s', delay: { maxMs: 'x' } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.delay.maxMs: expected an integer from 1 to 60000, received 'x'"],
  ['ban', { concurrency: { ip: 1 }, ban: { after: 1, for: '1min' } }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.ban: expected a rate beside ban (ip, user, or key with rate: ban acts on a rate\'s denials), received a limit with only concurrency'],
  ['concurrency', { ip: '1/s', concurrency: {} }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.concurrency: expected at least one of ip, user, key, received {}'],
  ['concurrency', { ip: '1/s', concurrency: { ip: 0 } }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.concurrency.ip: expected an integer from 1 to 1000000, received 0'],
  ['concurrency', { ip: '1/s', concurrency: { key: 2 } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.concurrency.key: expected the limit's key function beside it (key and rate), received concurrency.key without a key"],
  ['ban', { ip: '1/s', ban: { after: 3 } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ban.for: expected a duration like '15min' or milliseconds, received nothing (`for` is missing)"],
  ['ban', { ip: '1/s', ban: { after: 1, for: '1min', extend: 'yes' } }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.ban.extend: expected true or false, received 'yes'"],
  ['ban', { ip: '1/s', ban: true }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.ban: expected false or { after, for, backoff, max, statusCode, extend }, received true'],
  ['ban', { ip: '1/s', ban: { after: 1, for: '1min', forever: true } }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.ban.forever: expected a known option (after, for, backoff, max, statusCode, extend), received an unknown option'],
  ['onBan', { ip: '1/s', onBan: () => {} }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.onBan: expected a ban beside onBan (the limit's or the plugin's), received onBan without a ban"],
  ['onBan', { ip: '1/s', ban: { after: 1, for: '1min' }, onBan: 'log' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.onBan: expected a function (request, context) => void, received 'log'"],
  ['exempt', { ip: '1/s', exempt: '10.0.0.1' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.exempt: expected an array of IPs and CIDRs like ['127.0.0.1', '10.0.0.0/8'], or a function (request) => boolean, received '10.0.0.1'"],
  ['exempt', { ip: '1/s', exempt: ['10.0.0.0/33'] }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.exempt[0]: expected an IP or CIDR like '10.0.0.0/8', received '10.0.0.0/33'"],
  ['onExceeding', { ip: '1/s', onExceeding: true }, 'INVALID_ROUTE_CONFIG',
    'Route POST /upload: config.rateLimit.onExceeding: expected a function (request, context) => void, received true'],
  ['onExceeded', { ip: '1/s', onExceeded: 'log' }, 'INVALID_ROUTE_CONFIG',
    "Route POST /upload: config.rateLimit.onExceeded: expected a function (request, context) => void, received 'log'"]
]

t.test('plugin options: code and message', async (t) => {
  for (const [field, options, code, message] of pluginRows) {
    const app = Fastify()
    const err = await app.register(limiter, options as never).ready().then(() => undefined, (e: Error & { code?: string }) => e)
    t.same([err?.code, err?.message], [`FST_LIMITER_${code}`, message], `${field}: ${JSON.stringify(options)}`)
    await app.close()
  }
})

t.test('route config: code and message', async (t) => {
  const app = Fastify()
  await app.register(limiter)
  for (const [field, rateLimit, code, message] of routeRows) {
    const err = thrown(() => app.post('/upload', { config: { rateLimit: rateLimit as never } }, ok))
    t.same([err?.code, err?.message], [`FST_LIMITER_${code}`, message], `${field}: ${JSON.stringify(rateLimit) ?? String(rateLimit)}`)
  }
  const hook = thrown(() => app.rateLimit.hook({ ip: 5 } as never))
  t.same([hook?.code, hook?.message], ['FST_LIMITER_INVALID_ROUTE_CONFIG',
    "fastify.rateLimit.hook(): limit.ip: expected a rate like '10/min' or '3/5min', { limit, windowMs }, a non-empty array of them, or a function (request) => rate | rate[] | undefined, received 5"], 'a hook() limit is checked like a route config')
})

t.test('the rows cover every plugin option and every route field', async (t) => {
  t.same(new Set(pluginRows.map(([field]) => field)), new Set(['(options)', ...Object.keys(PluginOptionsSchema.properties)]))
  t.same(new Set(routeRows.map(([field]) => field)), new Set(['(limit)', ...Object.keys(LimitObjectSchema.properties)]))
})

t.test('a missing key is said to be missing, with what it takes, never with its parent\'s whole shape', async (t) => {
  const missing = [...pluginRows, ...routeRows].filter(([, , , message]) => message.includes(' is missing)'))
  t.ok(missing.length >= 5)
  for (const [field, input, , message] of missing) {
    t.match(message, /\.(\w+): expected [^{]*, received nothing \(`\1` is missing\)$/, `${field}: ${JSON.stringify(input)}`)
  }
})
