// Small units whose edge cases the plugin-level tests cannot reach.
import t from 'tap'
import { formatValue, checkInteger } from '../../lib/core/format.js'
import { missingStoreMethods } from '../../stores/store.js'
import { resolveOptions } from '../../lib/config/options.js'
import { MemoryStore } from '../../stores/memory.js'

t.test('formatValue shows any value briefly', async (t) => {
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.equal(formatValue(circular), '[object Object]')
  t.equal(formatValue(10n), '10')
  t.equal(formatValue(Symbol('s')), 'Symbol(s)')
  t.equal(formatValue(undefined), 'undefined')
  t.equal(formatValue(() => 1), 'a function')
  t.equal(formatValue('x'.repeat(100)), `'${'x'.repeat(80)}…'`)
  t.equal(formatValue({ a: 'y'.repeat(100) }), `{"a":"${'y'.repeat(74)}…`)
  t.equal(formatValue(null), 'null')
})

t.test('checkInteger', async (t) => {
  t.equal(checkInteger('x', 5, 1, 10), 5)
  t.throws(() => checkInteger('x', 11, 1, 10), { code: 'FST_LIMITER_INVALID_OPTION', message: 'x: expected an integer from 1 to 10, received 11' })
})

t.test('missingStoreMethods', async (t) => {
  t.same(missingStoreMethods(null), ['consume', 'reset', 'clear', 'stats', 'close'])
  t.same(missingStoreMethods('store'), ['consume', 'reset', 'clear', 'stats', 'close'])
  t.same(missingStoreMethods(new MemoryStore({ cleanupIntervalMs: 1_000_000 })), [])
})

t.test('resolveOptions without options gives the defaults', async (t) => {
  const resolved = resolveOptions(undefined)
  t.match(resolved, { algorithm: { name: 'sliding-window' }, hook: 'onRequest', keyPrefix: 'fl', dryRun: false, ipv6Subnet: 64, onStoreError: 'fallback', storeTimeoutMs: 100, ownsStore: true })
  t.ok(Object.isFrozen(resolved))
  await resolved.store.close()
})
