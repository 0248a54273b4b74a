// Issue 14, item 2 (the breaker): one store failure opened the breaker for a second, sending
// all traffic to the fallback ('allow' let a client through, 'deny' answered 503 to everyone).
// Now it opens on 5 asynchronous failures in a row, or half of at least 10 calls within a
// second, or one failure that held the event loop; then one probe decides whether it closes.
import t from 'tap'
import { BREAKER_MS, Breaker } from '../../lib/request/breaker.js'

function guard () {
  let now = 1_700_000_000_000
  const g = new Breaker(() => now)
  return { g, advance (ms: number) { now += ms } }
}

t.test('one failure, or four in a row, never opens the breaker', async (t) => {
  const { g } = guard()
  g.failed(false)
  t.equal(g.admit(), true)
  for (let i = 0; i < 3; i++) g.failed(false)
  t.equal(g.admit(), true, 'four in a row')
  g.succeeded()
  for (let i = 0; i < 4; i++) g.failed(false)
  t.equal(g.admit(), true, 'a success in between starts the run over')
  g.failed(false)
  t.equal(g.admit(), false, 'the fifth in a row opens it')
})

t.test('half of at least 10 calls within a second failing opens it', async (t) => {
  const { g } = guard()
  g.failed(false) // starts the window
  for (let i = 0; i < 4; i++) {
    g.succeeded()
    g.failed(false)
  }
  t.equal(g.admit(), true, '5 failures of 9 calls: too few calls to judge')
  g.succeeded()
  g.failed(false)
  t.equal(g.admit(), false, '6 failures of 11 calls')
})

t.test('a failure that held the event loop opens it at once', async (t) => {
  const { g } = guard()
  t.equal(g.state, 'closed')
  g.failed(true)
  t.equal(g.admit(), false)
  t.equal(g.state, 'open')
})

t.test('half-open: one probe at a time; its success closes the breaker, its failure opens it again', async (t) => {
  const { g, advance } = guard()
  g.failed(true)
  advance(BREAKER_MS - 1)
  t.equal(g.admit(), false, 'open for BREAKER_MS')
  advance(1)
  t.equal(g.admit(), true, 'the probe')
  t.equal(g.admit(), false, 'others wait for the probe')
  g.failed(false)
  t.equal(g.admit(), false, 'the probe failed: open again')
  advance(BREAKER_MS)
  t.equal(g.admit(), true, 'the next probe')
  g.succeeded()
  t.equal(g.admit(), true, 'closed')
  t.equal(g.admit(), true)
})
