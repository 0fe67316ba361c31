/**
 * `npm run build`: the agent bundled into dist/ (code splitting: each command's dynamic import is its own
 * chunk), minified (half the bytes a Pi reads at boot), and the local identity provider into dist/idp/.
 */
import { rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

/**
 * Code a boot does not run before its first frame, each bundled into a CommonJS file of its own beside
 * the chunks and required on its first call (each import is answered by a module of functions that
 * require the real one when called):
 * - node-cron: the scheduler starts after the first frame, and the settings check loads it only for an
 *   expression the kiosk sets. In a chunk of its own it was read before every first frame (32 KB, and
 *   `child_process` with it).
 * - What MQTT.js requires but a kiosk on mqtt:// never runs: its WebSocket and SOCKS transports (the
 *   `ws` package; `socks`, `ip-address`), which it requires while building its table of transports on
 *   its first connect (~15 ms between the code on screen and the code on MQTT), and `worker-timers`, its
 *   keep-alive timers for browsers. Left in MQTT.js's chunk, unevaluated, they were still half the
 *   bytes compiled as it loads.
 */
const MQTT_LIB = /[\\/]mqtt[\\/]build[\\/]lib$/;
const MQTT_CONNECT = /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect$/;
const AGENT_SRC = /[\\/]src$/;
const LAZY_FILES = [
  { file: 'node-cron.cjs', from: AGENT_SRC, specifier: 'node-cron', entry: 'node_modules/node-cron/dist/node-cron.cjs', names: ['validate', 'createTask'] },
  { file: 'mqtt-ws.cjs', from: MQTT_CONNECT, specifier: './ws', entry: 'node_modules/mqtt/build/lib/connect/ws.js', names: ['streamBuilder', 'browserStreamBuilder'] },
  { file: 'mqtt-socks.cjs', from: MQTT_CONNECT, specifier: './socks', entry: 'node_modules/mqtt/build/lib/connect/socks.js', names: ['default'] },
  { file: 'worker-timers.cjs', from: MQTT_LIB, specifier: 'worker-timers', entry: 'worker-timers', names: ['setInterval', 'clearInterval'] },
];
const lazyFiles = {
  name: 'lazy-files',
  setup(b) {
    const specifiers = LAZY_FILES.map((l) => l.specifier.replace(/[./]/g, '\\$&'));
    b.onResolve({ filter: new RegExp(`^(${specifiers.join('|')})$`) }, (a) => {
      const lazy = LAZY_FILES.find((l) => l.specifier === a.path && l.from.test(a.resolveDir));
      return lazy && a.namespace === 'file' ? { path: lazy.file, namespace: 'lazy-file' } : undefined;
    });
    b.onResolve({ filter: /\.cjs$/ }, (a) => (a.namespace === 'lazy-file' ? { path: `./${a.path}`, external: true } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-file' }, (a) => {
      const { names } = LAZY_FILES.find((l) => l.file === a.path);
      const real = JSON.stringify(a.path);
      return {
        contents: `exports.__esModule = true;\n${names.map((n) => `exports.${n} = (...args) => require(${real}).${n}(...args);`).join('\n')}`,
        loader: 'js',
      };
    });
  },
};

/**
 * Node's builtins are loaded with `require`, not `import`: on Node 22, `import 'node:http'` evaluates every
 * export of the module to build its namespace, including the lazy `WebSocket` (all of undici), ~20 ms of
 * every boot; `require` reads only what the code uses. Each importing file gets its own `require` line
 * (the suffix): one shared between commands would be a chunk file of its own, and a boot read ten of
 * them before its first frame (22 files instead of 12, ~6 ms on Node 20).
 */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      if (!builtinModules.includes(name)) return undefined;
      return a.namespace === 'builtin' ? { path: `node:${name}`, external: true } : { path: `node:${name}`, namespace: 'builtin', suffix: `?${a.importer}` };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
  },
};

/**
 * readable-stream is Node's own stream code, published for browsers and old Nodes; in Node it is the
 * module Node already has. Its copy cost MQTT.js's load ~10 ms, between the code on screen and on MQTT.
 */
const NODE_STREAMS = { 'readable-stream': 'node:stream' };

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
  alias: NODE_STREAMS,
  plugins: [lazyJsonwebtoken, lazyFiles, builtinsByRequire],
});
// The lazy files sit beside the chunks that require them (the banner's `require` is relative to its chunk).
await build({
  ...common,
  format: 'cjs',
  minify: true,
  entryPoints: Object.fromEntries(LAZY_FILES.map((l) => [l.file.replace(/\.cjs$/, ''), l.entry])),
  outdir: 'dist/chunks',
  outExtension: { '.js': '.cjs' },
  alias: NODE_STREAMS,
});
await build({ ...common, entryPoints: ['src/idp/main.ts'], packages: 'external', outfile: 'dist/idp/main.js' });
