import t from 'tap'
import Type from 'typebox'
import { expectation, explain } from '../../lib/config/explain.js'

// How lib/config/explain.ts words what a schema node expects and finds the place a value is wrong,
// on small schemas of its own; error-messages.test.ts checks the words of every real option.

t.test('what a node expects, derived where it has no description', async (t) => {
  const cases: Array<[object, string]> = [
    [Type.Integer({ minimum: 1 }), 'a positive integer'],
    [Type.Integer({ minimum: 0 }), 'an integer of at least 0'],
    [Type.Integer({ minimum: 1, maximum: 9 }), 'an integer from 1 to 9'],
    [Type.Number(), 'a number'],
    [Type.Number({ minimum: 0.5 }), 'a number of at least 0.5'],
    [Type.String(), 'a string'],
    [Type.String({ minLength: 1 }), 'a non-empty string'],
    [Type.Boolean(), 'true or false'],
    [Type.Literal(7), '7'],
    [Type.Function([], Type.Unknown()), 'a function'],
    [Type.Object({ a: Type.Number(), b: Type.Number() }), '{ a, b }'],
    [Type.Object({}), '{  }'],
    [Type.Union([Type.Literal('a'), Type.Literal('b'), Type.Literal(false)]), "one of 'a', 'b', false"],
    [Type.Union([Type.Literal('a'), Type.Integer({ minimum: 1 })]), "'a' or a positive integer"],
    [Type.Union([Type.Literal('a'), Type.Literal('b'), Type.Boolean(), Type.Object({ c: Type.Number() })]), "one of 'a', 'b', true or false or { c }"],
    [Type.String({ description: 'a name' }), 'a name']
  ]
  for (const [schema, words] of cases) t.equal(expectation(schema), words, JSON.stringify(schema))
})

t.test('the deepest wrong place', async (t) => {
  const schema = Type.Object({
    list: Type.Optional(Type.Array(Type.Object({ n: Type.Integer({ minimum: 1 }) }))),
    strict: Type.Optional(Type.Object({}, { maxProperties: 0 }))
  }, { additionalProperties: false })
  t.same(explain(schema, { list: [{ n: 1 }, { n: 0 }] }), { path: '.list[1].n', expected: 'a positive integer', received: '0' })
  t.same(explain(schema, { list: [{}] }), { path: '.list[0].n', expected: 'a positive integer', received: 'nothing (`n` is missing)' })
  t.same(explain(schema, { list: undefined, strict: { a: 1 } }), { path: '.strict', expected: '{  }', received: '{"a":1}' },
    'an object refused for a rule of its own is named as a whole')
  t.same(explain(schema, null), { path: '', expected: '{ list, strict }', received: 'null' })
  t.same(explain(Type.Union([Type.Literal(false), Type.Array(Type.Integer({ minimum: 1 }))]), 'x'),
    { path: '', expected: 'false or an array of: a positive integer', received: "'x'" }, 'a value that fits no branch: the union')
  t.same(explain(Type.Union([Type.Literal(false), Type.Array(Type.Integer({ minimum: 1 }))]), [1, 0]),
    { path: '[1]', expected: 'a positive integer', received: '0' }, 'the one branch of its kind: inside it')
})
