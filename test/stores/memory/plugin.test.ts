import t from 'tap'
import { MemoryStore } from '../../../index.js'
import { storeConformance } from '../../../stores/conformance.js'

await storeConformance(t, {
  name: 'MemoryStore',
  makeStore: (clock) => new MemoryStore({ clock }),
  // a memory store's concurrency slots end with its process: no leases
  leases: false
})

// The cases a store on its own clock runs (Redis keeps server time): decisions compared at
// the `now` the store reports, no clock moved by the suite.
await storeConformance(t, {
  name: 'MemoryStore on its own clock',
  makeStore: () => new MemoryStore(),
  supportsInjectedClock: false,
  runs: 5,
  leases: false
})
