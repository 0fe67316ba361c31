// `npm run docs:settings`: writes the README's settings table from the declarations in src/settings.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../src/settings-doc.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withSettingsTable(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? 'README.md: the settings table is up to date\n' : 'README.md: settings table written\n');
