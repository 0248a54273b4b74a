import ts from 'typescript'

/**
 * Facts read from the project's source files with the TypeScript compiler API, for the pictures
 * of scripts/diagrams/: the hooks index.ts adds, the numbered constants of a module (resolve's
 * steps, decide's phases, the flow's stages and outcomes), a string union type, the assignments
 * to a field, the events a module listens to. Each reader throws, naming the file, when the
 * source no longer has the shape it reads, so that a refactor cannot leave a picture silently
 * wrong: the script stops and says what to update.
 */

function parse (file: string, source: string): ts.SourceFile {
  return ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true)
}

/** Every node of the tree, depth first, in source order. */
function * walk (node: ts.Node): Generator<ts.Node> {
  yield node
  for (const child of node.getChildren()) yield * walk(child)
}

/** A numbered constant: `const NAME = 3`, with its doc comment when it has one. */
export interface NumberedConstant {
  readonly name: string
  readonly value: number
  readonly exported: boolean
  /** The text of its `/** ... *\/` comment, or of the comment of the run it starts. */
  readonly doc: string | undefined
}

/** The top-level `const NAME = <number>` declarations of a module, in source order. */
export function numberedConstants (file: string, source: string): NumberedConstant[] {
  const found: NumberedConstant[] = []
  for (const statement of parse(file, source).statements) {
    if (!ts.isVariableStatement(statement) || (statement.declarationList.flags & ts.NodeFlags.Const) === 0) continue
    const exported = statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) === true
    for (const declaration of statement.declarationList.declarations) {
      const init = declaration.initializer
      if (!ts.isIdentifier(declaration.name) || init === undefined || !ts.isNumericLiteral(init)) continue
      found.push({ name: declaration.name.text, value: Number(init.text.replaceAll('_', '')), exported, doc: docOf(statement) })
    }
  }
  return found
}

/** The text of a statement's JSDoc comments, joined; undefined without one. */
function docOf (node: ts.Node): string | undefined {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc)
  if (docs.length === 0) return undefined
  return docs.map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '').join(' ').replace(/\s+/g, ' ').trim()
}

/**
 * The run of numbered constants that holds `anchor`: consecutive constants numbered 0, 1, 2...
 * (how lib/request numbers a flow's stages, steps, phases and outcomes). Throws when the anchor
 * is missing or the run is not numbered from 0 in order.
 */
export function constantRun (file: string, source: string, anchor: string): NumberedConstant[] {
  const all = numberedConstants(file, source)
  const at = all.findIndex((c) => c.name === anchor)
  if (at < 0) throw new Error(`${file}: no numbered constant ${anchor}; update scripts/diagrams/`)
  let start = at
  while (all[start].value !== 0) {
    if (start === 0 || all[start - 1].value !== all[start].value - 1) {
      throw new Error(`${file}: the constants around ${anchor} are not numbered 0, 1, 2... in order; update scripts/diagrams/`)
    }
    start--
  }
  let end = start + 1
  while (end < all.length && all[end].value === all[end - 1].value + 1) end++
  return all.slice(start, end)
}

/** The members of `type Name = 'a' | 'b' | ...` in a module. */
export function stringUnion (file: string, source: string, name: string): string[] {
  for (const statement of parse(file, source).statements) {
    if (!ts.isTypeAliasDeclaration(statement) || statement.name.text !== name) continue
    const members = ts.isUnionTypeNode(statement.type) ? statement.type.types : [statement.type]
    return members.map((member) => {
      if (!ts.isLiteralTypeNode(member) || !ts.isStringLiteral(member.literal)) {
        throw new Error(`${file}: type ${name} is not a union of string literals; update scripts/diagrams/`)
      }
      return member.literal.text
    })
  }
  throw new Error(`${file}: no type ${name}; update scripts/diagrams/`)
}

/** An assignment of a string literal to a field: in which method, and which value. */
export interface FieldAssignment {
  readonly method: string
  readonly value: string
}

/** The assignments `this.<field> = '<literal>'` of a module's classes, by method, in source order. */
export function fieldAssignments (file: string, source: string, field: string): FieldAssignment[] {
  const found: FieldAssignment[] = []
  for (const node of walk(parse(file, source))) {
    if (!ts.isBinaryExpression(node) || node.operatorToken.kind !== ts.SyntaxKind.EqualsToken) continue
    const { left, right } = node
    if (!ts.isPropertyAccessExpression(left) || left.expression.kind !== ts.SyntaxKind.ThisKeyword || left.name.getText() !== field) continue
    if (!ts.isStringLiteral(right)) throw new Error(`${file}: this.${field} is assigned something else than a literal; update scripts/diagrams/`)
    let method: ts.Node = node
    while (!ts.isMethodDeclaration(method) && !ts.isGetAccessorDeclaration(method) && !ts.isSourceFile(method)) method = method.parent
    if (ts.isSourceFile(method)) throw new Error(`${file}: this.${field} is assigned outside a method; update scripts/diagrams/`)
    found.push({ method: (method as ts.MethodDeclaration).name.getText(), value: right.text })
  }
  return found
}

/** The events a module listens to with `.on('<event>', ...)` or `.once('<event>', ...)`. */
export function listenedEvents (file: string, source: string): string[] {
  const found: string[] = []
  for (const node of walk(parse(file, source))) {
    if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) continue
    const [event] = node.arguments
    if (['on', 'once'].includes(node.expression.name.text) && event !== undefined && ts.isStringLiteral(event)) found.push(event.text)
  }
  return found
}

/** A hook a module adds with `<instance>.addHook('<name>', fn)`. */
export interface AddedHook {
  readonly name: string
  /** The condition of the `if` the `addHook` call stands under, when it does. */
  readonly when: string | undefined
  /** What the hook's function calls, as `a.b()`, with the condition of each call made under an `if` inside it. */
  readonly calls: readonly string[]
  /** What it assigns to an element of its argument, as `route[settings.hook]`: how onRoute adds a route's hook. */
  readonly assigns: readonly string[]
}

/** Calls that say nothing of what a hook does: its callback, logging, array helpers. */
const quiet = /^(done|Array\.\w+|.*\blog\.\w+)$/

/** The hooks a module adds, in source order (the order Fastify runs hooks of one name in). */
export function addedHooks (file: string, source: string): AddedHook[] {
  const hooks: AddedHook[] = []
  for (const node of walk(parse(file, source))) {
    if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression) || node.expression.name.text !== 'addHook') continue
    const [name, fn] = node.arguments
    if (name === undefined || !ts.isStringLiteral(name) || fn === undefined || !(ts.isFunctionExpression(fn) || ts.isArrowFunction(fn))) {
      throw new Error(`${file}: an addHook call without a hook name and a function; update scripts/diagrams/`)
    }
    const calls: string[] = []
    const assigns: string[] = []
    for (const inner of walk(fn.body)) {
      if (ts.isCallExpression(inner) && !insideFunction(inner, fn)) {
        const callee = inner.expression.getText().replace(/\?\.$/, '').replace(/\?\./g, '.')
        if (quiet.test(callee)) continue
        const when = conditionOf(inner, fn)
        calls.push(when === undefined ? `${callee}()` : `${callee}() if ${when}`)
      }
      if (ts.isBinaryExpression(inner) && inner.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isElementAccessExpression(inner.left)) {
        assigns.push(inner.left.getText())
      }
    }
    hooks.push({ name: name.text, when: conditionOf(node, undefined), calls, assigns })
  }
  return hooks
}

/** Whether a node lies in a function nested inside `fn` (its calls are not the hook's own). */
function insideFunction (node: ts.Node, fn: ts.Node): boolean {
  for (let n = node.parent; n !== fn; n = n.parent) {
    if (ts.isFunctionLike(n)) return true
  }
  return false
}

/** The condition of the nearest `if` whose branch holds `node`, below `stop` (or below the enclosing function). */
function conditionOf (node: ts.Node, stop: ts.Node | undefined): string | undefined {
  for (let n = node; n.parent !== undefined && n !== stop; n = n.parent) {
    if (stop === undefined && ts.isFunctionLike(n.parent) && n !== node) return undefined
    if (ts.isIfStatement(n.parent) && n.parent.thenStatement === n) return n.parent.expression.getText()
  }
  return undefined
}
