import { readFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import { errnoCode } from '../errors.js';
import { isObject } from '../json.js';

/**
 * The provider's discovery document and signing keys, kept beside the token cache. With them a
 * rebooted kiosk whose provider is unreachable still resolves its authority (MSAL asks for the
 * discovery document before it looks at cached tokens) and still verifies cached ID tokens.
 * Nothing here is secret.
 */
export class MetadataStore {
  private docs: Record<string, unknown> = {};

  constructor(private readonly d: { path: string; log: Logger }) {}

  async load(): Promise<void> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.d.path, 'utf8'));
      if (isObject(parsed)) this.docs = parsed;
    } catch {
      this.docs = {}; // missing or damaged: it is fetched again, nothing is lost
    }
  }

  get(url: string): unknown {
    return this.docs[key(url)];
  }

  find(match: (url: string) => boolean): unknown {
    const k = Object.keys(this.docs).find(match);
    return k === undefined ? undefined : this.docs[k];
  }

  async set(url: string, doc: unknown): Promise<void> {
    const k = key(url);
    if (JSON.stringify(this.docs[k]) === JSON.stringify(doc)) return;
    this.docs = { ...this.docs, [k]: doc };
    try {
      await mkdir(dirname(this.d.path), { recursive: true, mode: 0o700 });
      await writeAtomic(this.d.path, JSON.stringify(this.docs), 0o644);
    } catch (e) {
      this.d.log.warn({ code: errnoCode(e), path: this.d.path }, 'cannot save provider metadata');
    }
  }
}

/** Query strings (MSAL adds correlation ids) do not make a different document. */
const key = (url: string): string => url.split('?')[0] ?? url;
