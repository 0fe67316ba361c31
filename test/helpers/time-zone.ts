/**
 * The offset of Berlin time from UTC at `at`, in hours, by the European summer-time rule (from the last
 * Sunday of March to the last Sunday of October, 01:00 UTC both): worked out here, not by the runtime's
 * zone data, so a test can check the agent's local times against something independent of them.
 */
export function berlinOffsetHours(at: number): number {
  const year = new Date(at).getUTCFullYear();
  const lastSunday = (month: number): number => {
    const last = new Date(Date.UTC(year, month + 1, 0, 1));
    return last.getTime() - last.getUTCDay() * 86_400_000;
  };
  return at >= lastSunday(2) && at < lastSunday(9) ? 2 : 1;
}

/** "HH:MM CET" or "HH:MM CEST": Berlin's wall clock at `at`, as the displays print it. */
export function berlinClock(at: number): string {
  const offset = berlinOffsetHours(at);
  const local = new Date(at + offset * 3_600_000);
  const hh = String(local.getUTCHours()).padStart(2, '0');
  const mm = String(local.getUTCMinutes()).padStart(2, '0');
  return `${hh}:${mm} ${offset === 2 ? 'CEST' : 'CET'}`;
}
