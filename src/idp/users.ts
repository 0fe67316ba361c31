import { randomUUID } from 'node:crypto';
import type { User } from './types.js';

/** The test users a person (or a test) can sign in as; object ids are made once per data dir. */
export function defaultUsers(): User[] {
  return [
    { id: 'alice', name: 'Alice Example', username: 'alice@example.test', email: 'alice@example.test', oid: randomUUID() },
    { id: 'bob', name: 'Bob Example', username: 'bob@example.test', email: 'bob@example.test', oid: randomUUID() },
    { id: 'carol', name: 'Carol Example', username: 'carol@example.test', email: 'carol@example.test', oid: randomUUID() },
  ];
}

/** Finds a user by id, username, e-mail or object id (case-insensitive). */
export function findUser(users: readonly User[], query: string): User | undefined {
  const q = query.trim().toLowerCase();
  return users.find((u) => [u.id, u.username, u.email, u.oid].some((v) => v.toLowerCase() === q));
}
