import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { USAGE } from '../src/cli.js';
import { describeConfig, loadConfig, SECRET_SETTINGS, SETTINGS } from '../src/config.js';
import { withSettingsTable } from '../src/settings-doc.js';
import { SETTING_NAMES, SETTINGS_TABLE } from '../src/settings.js';

const base = { KIOSK_CLIENT_ID: 'abc', KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com', KIOSK_DEVICE_ID: 'k1' };

test("the README's settings table is the one src/settings.ts declares (npm run docs:settings writes it)", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(withSettingsTable(readme), readme, 'README.md is out of date: run npm run docs:settings');
  for (const name of SETTING_NAMES) assert.ok(readme.includes(`| \`${name}\` |`), `${name} has a row`);
});

test('--help lists every setting with its default, under its part', () => {
  for (const name of SETTING_NAMES) {
    const line = USAGE.split('\n').find((l) => l.trimStart().startsWith(`${name} `));
    assert.ok(line, `${name} in --help`);
    const fallback = SETTINGS_TABLE[name].fallback;
    if (fallback !== undefined && SETTINGS_TABLE[name].shownDefault === undefined) assert.ok(line.endsWith(`(default: ${fallback})`), line);
  }
  assert.match(USAGE, /^MQTT and Home Assistant:\n {2}KIOSK_MQTT_URL /m);
});

test('loading reads exactly the declared settings, with their declared defaults and secrets', () => {
  const { values } = loadConfig({ env: base });
  assert.deepEqual(Object.keys(values), SETTING_NAMES);
  for (const name of SETTING_NAMES) if (!(name in base)) assert.equal(values[name], SETTINGS_TABLE[name].fallback, name);
  assert.deepEqual(Object.keys(SETTINGS), SETTING_NAMES);
  assert.deepEqual([...SECRET_SETTINGS].sort(), ['KIOSK_CACHE_KEY', 'KIOSK_MQTT_PASSWORD', 'KIOSK_TOKEN_SECRET']);
});

test('kiosk-agent config masks the password in KIOSK_MQTT_URL as well as the secret settings', () => {
  const { values } = loadConfig({ env: { ...base, KIOSK_MQTT_URL: 'mqtts://kiosk:hunter2-broker@broker.example:8883', KIOSK_TOKEN_SECRET: 's'.repeat(20) } });
  const shown = describeConfig(values);
  assert.equal(shown.KIOSK_MQTT_URL, 'mqtts://kiosk:********@broker.example:8883');
  assert.equal(shown.KIOSK_TOKEN_SECRET, '********');
  assert.ok(!JSON.stringify(shown).includes('hunter2'));
});
