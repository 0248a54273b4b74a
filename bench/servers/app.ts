// One benchmark server per process, picked by name: `node dist/bench/servers/app.js <name> <port>
// <redis port> <sqlite dir>`. It prints `ready` once it listens.
import { build } from './build.js'
import type { ServerName } from './names.js'

const [name, port, redisPort, sqliteDir] = process.argv.slice(2) as [ServerName, string, string, string]
const app = await build(name, Number(redisPort), sqliteDir)
await app.listen({ port: Number(port), host: '127.0.0.1' })
process.stdout.write('ready\n')
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
