import t from 'tap'
import { encodePart, keyHead, keyTail } from '../../lib/request/keys.js'
import { build } from '../support/helpers.js'

t.test('no two identities share an encoding', async (t) => {
  const tricky = [
    'a', 'a:b', 'a%3Ab', 'a}b', 'a{b}', '{x}', 'a b', 'a\nb', 'a\r\nb', '#abc', '%', '%25',
    '\uD800', '\uDBFF', '\uD800x', '\uFFFD', 'é', 'e\u0301', '', ':', '::', '}:fw:1:1000',
    'x'.repeat(200), 'x'.repeat(201), 'x'.repeat(1_000_000), 'x'.repeat(999_999) + 'y',
    '\uD800' + 'a'.repeat(300), '\uDBFF' + 'a'.repeat(300), '\uFFFD' + 'a'.repeat(300)
  ]
  const seen = new Map<string, string>()
  for (const id of tricky) {
    const encoded = encodePart(id)
    t.notOk(seen.has(encoded), `${JSON.stringify(id.slice(0, 20))} collides with ${JSON.stringify(seen.get(encoded)?.slice(0, 20))}`)
    seen.set(encoded, id)
    t.notMatch(encoded, /[:{}\s]/, 'never contains a key separator, a brace or white space')
    t.ok(encoded.length <= 200, 'bounded size')
  }
})

t.test('long identities are hashed; short ones stay readable', async (t) => {
  t.equal(encodePart('203.0.113.9'), '203.0.113.9')
  t.equal(encodePart('2001:db8::/64'), '2001%3Adb8%3A%3A/64')
  t.match(encodePart('x'.repeat(1_000_000)), /^#[\w-]{43}$/)
})

t.test('keys: prefix, hash tag around route, kind and identity, then the rate', async (t) => {
  t.equal(keyHead({ prefix: 'fl', route: 'GET /a', kind: 'ip' }) + '1.2.3.4' + keyTail('sw', 10, 60000, undefined), 'fl:{GET%20/a:ip:1.2.3.4}:sw:10:60000')
  t.equal(keyHead({ prefix: '', route: 'g', kind: 'user' }) + 'u' + keyTail('tb', 10, 1000, 30), '{g:user:u}:tb:10:1000:30')
})

t.test('an identity made to look like another bucket cannot reach it', async (t) => {
  const { app } = await build({ user: (r) => r.headers['x-user'] as string })
  app.get('/a', { config: { rateLimit: { user: '1/min' } } }, async () => 'ok')
  app.get('/b', { config: { rateLimit: { user: '1/min' } } }, async () => 'ok')
  const as = (user: string, url = '/a') => app.inject({ url, headers: { 'x-user': user } })
  t.equal((await as('alice')).statusCode, 200)
  t.equal((await as('alice}:sw:1:60000')).statusCode, 200)
  t.equal((await as('alice', '/b')).statusCode, 200)
  t.equal((await as('alice')).statusCode, 429)
  t.equal((await as('alice:x')).statusCode, 200)
})
