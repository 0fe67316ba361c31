/**
 * `npm run build`: the agent bundled into dist/ (code splitting: each command's dynamic import is its own
 * chunk), minified (half the bytes a Pi reads at boot), and the local identity provider into dist/idp/.
 */
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * MSAL Node imports `jsonwebtoken` (with semver, jws and lodash) only to sign a confidential client's
 * assertion, which a public client never does; evaluating it still cost every boot ~10 ms. Its import is
 * answered by a module that evaluates the real one on the first `sign`, bundled as usual.
 */
const lazyJsonwebtoken = {
  name: 'lazy-jsonwebtoken',
  setup(b) {
    b.onResolve({ filter: /^jsonwebtoken$/ }, (a) => (a.namespace === 'lazy' ? undefined : { path: 'jsonwebtoken', namespace: 'lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "export default { sign: (...args) => require('jsonwebtoken').sign(...args) };",
      resolveDir: process.cwd(),
      loader: 'js',
    }));
  },
};

rmSync('dist', { recursive: true, force: true });
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' };
await build({
  ...common,
  entryPoints: ['src/main.ts'],
  minify: true,
  splitting: true,
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS packages in an ESM bundle call `require` for Node's builtins.
  banner: { js: "import{createRequire}from'node:module';const require=createRequire(import.meta.url);" },
  plugins: [lazyJsonwebtoken],
});
await build({ ...common, entryPoints: ['src/idp/main.ts'], packages: 'external', outfile: 'dist/idp/main.js' });
