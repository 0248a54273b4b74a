// The layout rule of the house (README "Development"): imports run downward only,
//   index.ts, types/ -> lib/api.ts -> lib/config -> lib/request -> lib/observe -> stores/ -> algorithms/ -> lib/core
// and no import circle anywhere, type-only imports included. `npm run lint:deps` checks it.
const below = {
  'lib/api\\.ts': ['^index\\.ts$', '^types/'],
  'lib/config/': ['^index\\.ts$', '^types/', '^lib/api\\.ts$'],
  'lib/request/': ['^index\\.ts$', '^types/', '^lib/api\\.ts$', '^lib/config/'],
  'lib/observe/': ['^index\\.ts$', '^types/', '^lib/api\\.ts$', '^lib/config/', '^lib/request/'],
  'stores/': ['^index\\.ts$', '^types/', '^lib/(?!core/)'],
  'algorithms/': ['^index\\.ts$', '^types/', '^lib/(?!core/)', '^stores/'],
  'lib/core/': ['^index\\.ts$', '^types/', '^lib/(?!core/)', '^stores/', '^algorithms/']
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circle, type-only imports included.',
      from: {},
      to: { circular: true }
    },
    ...Object.entries(below).map(([from, upward]) => ({
      name: `no-upward-from-${from.replace(/\W+/g, '-').replace(/^-|-$/g, '')}`,
      severity: 'error',
      comment: `${from} imports only what lies below it in the layout`,
      from: { path: `^${from}` },
      to: { path: upward }
    }))
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|coverage|\\.tap)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] }
  }
}
