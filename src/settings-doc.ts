import { SETTING_GROUPS, SETTING_NAMES, SETTINGS_TABLE } from './settings.js';
import type { SettingGroup } from './settings.js';

/** The README's settings table sits between these lines; `npm run docs:settings` rewrites what is between. */
export const README_MARKERS = ['<!-- settings:start (npm run docs:settings writes this table from src/settings.ts) -->', '<!-- settings:end -->'] as const;

const defaultText = (name: (typeof SETTING_NAMES)[number]): string => {
  const s = SETTINGS_TABLE[name];
  return s.shownDefault ?? (s.fallback === undefined ? '-' : `\`${s.fallback}\``);
};

/** The README's table: one row per setting, in the table's order. */
export function settingsTable(): string {
  const rows = SETTING_NAMES.map((n) => `| \`${n}\` | ${defaultText(n)} | ${SETTINGS_TABLE[n].readme ?? SETTINGS_TABLE[n].about} |`);
  return ['| name | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** `--help`'s list: the settings under their part's heading, each with its default and one line. */
export function settingsHelp(): string {
  const width = Math.max(...SETTING_NAMES.map((n) => n.length)) + 2;
  return (Object.keys(SETTING_GROUPS) as SettingGroup[])
    .map((group) => {
      const lines = SETTING_NAMES.filter((n) => SETTINGS_TABLE[n].group === group).map((n) => {
        const shown = defaultText(n).replaceAll('`', '');
        const suffix = shown === '-' ? '' : shown === 'required' ? ' (required)' : ` (default: ${shown})`;
        return `  ${n.padEnd(width)}${SETTINGS_TABLE[n].about}${suffix}`;
      });
      return [`${SETTING_GROUPS[group]}:`, ...lines].join('\n');
    })
    .join('\n\n');
}

/** The README with its table section replaced by `settingsTable()`; throws when the markers are missing. */
export function withSettingsTable(readme: string): string {
  const [start, end] = README_MARKERS;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} section`);
  return `${readme.slice(0, from + start.length)}\n${settingsTable()}\n${readme.slice(to)}`;
}
