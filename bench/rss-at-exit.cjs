// Preloaded into the upstream sample: reports its resident memory once its work is done, as the lines of
// /proc/self/status that `residentOf` (lib.ts) reads.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload for a CommonJS sample
const { readFileSync } = require('node:fs');
process.once('beforeExit', () => {
  const lines = readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(VmRSS|RssAnon|RssFile):/.test(l));
  process.stderr.write(`${lines.join('\n')}\n`);
});
