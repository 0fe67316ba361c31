// Preloaded into the upstream sample: reports its resident memory once its work is done.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload for a CommonJS sample
const { readFileSync } = require('node:fs');
process.once('beforeExit', () => {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
  process.stderr.write(`rss-kb=${kb}\n`);
});
