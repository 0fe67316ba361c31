import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const SEED = new URL('../../shared/seeds/000_a8b0322144fd96df.txt', import.meta.url);

/**
 * Writes the upstream headless device-code sample (Microsoft's MSAL Node sample for External ID,
 * the seed this product grew from) into `dir`, from its published code blocks, unchanged except for
 * what points it at the local identity provider: client id, authority, and `knownAuthorities`
 * (without which MSAL asks login.microsoftonline.com for instance discovery). Returns app.js.
 */
export async function writeUpstreamSample(dir: string, o: { clientId: string; authority: string; root: string }): Promise<string> {
  const text = await readFile(SEED, 'utf8');
  const blocks = [...text.matchAll(/```javascript\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  if (blocks.length < 7) throw new Error(`expected 7 code blocks in ${SEED.pathname}, found ${blocks.length}`);
  const [config, request, exportsBlock, app, , getToken, call] = blocks as [string, string, string, string, string, string, string];
  const pointed = config
    .replace('Enter_the_Application_Id_Here', o.clientId)
    .replace('https://Enter_the_Tenant_Name_Here.ciamlogin.com/', o.authority)
    .replace('auth: {', `auth: {\n        knownAuthorities: [${JSON.stringify(new URL(o.authority).origin)}],`);
  if (pointed === config) throw new Error('the sample configuration did not take the local authority');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'authConfig.js'), `${pointed}\n${request}\n${exportsBlock}`);
  await writeFile(join(dir, 'app.js'), `${app}\n${getToken}\n${call}`);
  await writeFile(join(dir, 'package.json'), '{"type":"commonjs"}');
  await symlink(join(o.root, 'node_modules'), join(dir, 'node_modules')).catch(() => undefined);
  return join(dir, 'app.js');
}
