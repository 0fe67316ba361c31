import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pidOneRunsWatch } from '../src/pid-one.js';

test('health in a container whose PID 1 is kiosk-agent watch answers for it; any other PID 1 is left to the agent check', () => {
  const pidOne = (argv: string[] | undefined) => () => {
    if (argv === undefined) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    return `${argv.join('\0')}\0`;
  };
  assert.equal(pidOneRunsWatch(pidOne(['node', '/usr/local/bin/kiosk-agent', 'watch', '--url', 'mqtt://broker'])), true);
  assert.equal(pidOneRunsWatch(pidOne(['node', '/app/dist/main.js', 'watch', '--json'])), true);
  assert.equal(pidOneRunsWatch(pidOne(['node', '/usr/local/bin/kiosk-agent', 'run'])), false);
  assert.equal(pidOneRunsWatch(pidOne(['/sbin/init'])), false);
  assert.equal(pidOneRunsWatch(pidOne(['node', '/usr/local/bin/kiosk-agent'])), false, 'no command is run');
  assert.equal(pidOneRunsWatch(pidOne(undefined)), false, 'unreadable: the agent check');
  assert.equal(pidOneRunsWatch(), false, 'this machine\'s PID 1 is no watch');
});
