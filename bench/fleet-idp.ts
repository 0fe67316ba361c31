/**
 * The local identity provider in a process of its own for `npm run bench:fleet`, so that its CPU
 * (TLS, token signing, state saves) neither slows the orchestrator's MQTT observation nor hides in it.
 * Usage: fleet-idp.ts DIR REQUEST_LOG. Prints one JSON line when ready; every request goes to
 * REQUEST_LOG as a JSON line (the control API's `/requests` keeps only the last 10 000).
 */
import { createWriteStream } from 'node:fs';
import { startIdp } from '../src/idp/server.js';

const [dir, requestLog] = process.argv.slice(2);
if (dir === undefined || requestLog === undefined) throw new Error('usage: fleet-idp.ts DIR REQUEST_LOG');
const out = createWriteStream(requestLog);
const idp = await startIdp({ dir, onRequest: (e) => void out.write(`${JSON.stringify(e)}\n`) });
process.stdout.write(`${JSON.stringify({ authority: idp.authority, ca_file: idp.caFile, control_url: idp.controlUrl })}\n`);

const stop = (): void => {
  setTimeout(() => process.exit(1), 5_000).unref();
  void idp.close().then(() => out.end(() => process.exit(0)));
};
process.once('SIGTERM', stop);
process.once('disconnect', stop);
