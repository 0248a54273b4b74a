/**
 * The benchmark servers, by name: what each one is, and how the load generator talks to it
 * (`clients`: one client; `pool`, a fixed set of clients already blocked before the run;
 * `distinct`, a new client for every request).
 */
export const servers = {
  bare: { label: 'bare Fastify', clients: 'one' },
  'headers-only': { label: 'a hook that only sets 3 headers', clients: 'one' },
  // what the load of the "new client per request" servers costs Fastify alone
  'bare-many-clients': { label: 'bare Fastify, a new client per request', clients: 'distinct' },
  'fl-memory-sw': { label: 'fastify-limiter memory, sliding-window', clients: 'one' },
  'fl-memory-fw': { label: 'fastify-limiter memory, fixed-window', clients: 'one' },
  'fl-memory-429': { label: 'fastify-limiter memory, every response 429', clients: 'one' },
  'fl-many-clients': { label: 'fastify-limiter memory, a new client per request', clients: 'distinct' },
  'fl-sqlite': { label: 'fastify-limiter SQLite (WAL file, group commit)', clients: 'one' },
  'fl-sqlite-4proc': { label: 'fastify-limiter SQLite, 4 processes sharing one file', clients: 'one' },
  'redis-floor': { label: 'Redis floor: one batched EVALSHA per turn + 3 headers', clients: 'one' },
  'fl-redis': { label: 'fastify-limiter Redis (auto-pipelined)', clients: 'one' },
  'fl-redis-many-clients': { label: 'fastify-limiter Redis, a new client per request', clients: 'distinct' },
  'fl-redis-cluster': { label: 'fastify-limiter Redis Cluster (3 masters)', clients: 'one' },
  'fl-redis-unpipelined': { label: 'fastify-limiter Redis (no auto-pipelining)', clients: 'one' },
  'fl-redis-blocked': { label: 'fastify-limiter Redis, 1,000 already-blocked clients', clients: 'pool' },
  'frl-memory': { label: '@fastify/rate-limit memory', clients: 'one' },
  'frl-memory-429': { label: '@fastify/rate-limit memory, every response 429', clients: 'one' },
  'frl-redis': { label: '@fastify/rate-limit Redis (auto-pipelined)', clients: 'one' },
  'rlf-memory': { label: 'rate-limiter-flexible memory (hook + 3 headers)', clients: 'one' },
  'rlf-redis': { label: 'rate-limiter-flexible Redis (hook + 3 headers, auto-pipelined)', clients: 'one' }
} as const satisfies Record<string, { label: string, clients: 'one' | 'pool' | 'distinct' }>

export type ServerName = keyof typeof servers
