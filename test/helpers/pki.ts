import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface TestCa {
  readonly ca: string;
  /** Issues a certificate (PEM paths); `names` become subjectAltNames (`IP:…`, `DNS:…`) of a server certificate. */
  issue(name: string, o?: { names?: string[]; client?: boolean }): Promise<{ cert: string; key: string }>;
}

/** A throwaway CA made with the `openssl` CLI in `dir`, valid for a day. */
export async function createCa(dir: string, label = 'ca'): Promise<TestCa> {
  const ca = join(dir, `${label}.crt`);
  const caKey = join(dir, `${label}.key`);
  await run('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-days', '1', '-subj', `/CN=kiosk-agent test ${label}`]);
  return {
    ca,
    async issue(name, o = {}) {
      const base = join(dir, `${label}-${name}`);
      const ext = `${base}.ext`;
      const lines = ['basicConstraints=CA:FALSE', `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`];
      if (o.names?.length) lines.push(`subjectAltName=${o.names.join(',')}`);
      await writeFile(ext, `${lines.join('\n')}\n`);
      await run('openssl', ['req', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
      await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca, '-CAkey', caKey, '-CAcreateserial',
        '-out', `${base}.crt`, '-days', '1', '-extfile', ext]);
      return { cert: `${base}.crt`, key: `${base}.key` };
    },
  };
}
