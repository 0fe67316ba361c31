import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_FILE } from './report.js';
import type { ScenarioResult } from './report.js';

/**
 * `npm run test:faults`: every fault scenario at full rounds, then one table
 * (scenario, rounds, failures, bytes scanned for tokens, leaks). Exit code is the tests'.
 */
const here = new URL('.', import.meta.url).pathname;
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join(here, f));
rmSync(REPORT_FILE, { force: true });
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, FAULTS: process.env.FAULTS ?? 'full', FAULTS_REPORT: REPORT_FILE },
});

const rows: ScenarioResult[] = readFileSync(REPORT_FILE, { encoding: 'utf8', flag: 'a+' })
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as ScenarioResult);
const table = [
  ['scenario', 'rounds', 'failures', 'bytes scanned', 'leaks', 'note'],
  ...rows.map((r) => [r.scenario, String(r.rounds), String(r.failures), String(r.bytesScanned), String(r.leaks), r.note ?? '']),
];
const sum = (k: 'rounds' | 'failures' | 'bytesScanned' | 'leaks'): string => String(rows.reduce((n, r) => n + r[k], 0));
table.push(['total', sum('rounds'), sum('failures'), sum('bytesScanned'), sum('leaks'), '']);
process.stdout.write(`\n${table.map((cells) => `| ${cells.join(' | ')} |`).join('\n').replace(/\n/, `\n|${' --- |'.repeat(6)}\n`)}\n`);
process.exit(run.status ?? 1);
