// One benchmark server per process, picked by name: `node dist/bench/servers/app.js <name> <port>
// <redis port> <sqlite dir>`. It prints `ready` once it listens.
// `fl-sqlite-4proc` is 4 worker processes (node:cluster) on one port, each with its own
// SqliteStore on one shared file; the primary prints `ready` once all 4 listen.
import cluster from 'node:cluster'
import { build } from './build.js'
import type { ServerName } from './names.js'

const WORKERS = 4
const [name, port, redisPort, sqliteDir] = process.argv.slice(2) as [ServerName, string, string, string]

if (name === 'fl-sqlite-4proc' && cluster.isPrimary) {
  let listening = 0
  for (let i = 0; i < WORKERS; i++) cluster.fork()
  cluster.on('listening', () => {
    if (++listening === WORKERS) process.stdout.write('ready\n')
  })
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
    })
  })
} else {
  const app = await build(name, Number(redisPort), sqliteDir)
  await app.listen({ port: Number(port), host: '127.0.0.1' })
  if (cluster.isPrimary) process.stdout.write('ready\n')
  process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
