import { randomBytes } from 'node:crypto';

/**
 * A keyspace: the identity revisions belong to. A revision means something only together with its keyspace: the
 * store hands out each revision at most once per keyspace, and begins a new keyspace (a new random id) whenever it
 * cannot rule out having handed some out already, such as a restart that is not from a snapshot taken at a clean
 * stop, or a Redis that came back empty or behind. Watch ids, `since`, ETags and webhook delivery ids all carry it.
 */
export interface Keyspace {
  /** 12 lowercase hex digits, random, created when the keyspace is born and kept with its data. */
  readonly id: string;
  /** The store revision when it was born: every revision handed out in it is above this. */
  readonly base: number;
}

/** Why a store began a new keyspace (the `reason` label of kv_keyspace_changes_total). */
export type KeyspaceChangeReason =
  /** Memory driver: the previous run ended without its final snapshot (a crash, a kill): it may have handed out revisions after the last one. */
  | 'unclean_restart'
  /** Memory driver: an unusable snapshot was set aside (SNAPSHOT_ON_CORRUPT=ignore) and the store started empty. */
  | 'snapshot_discarded'
  /** Redis driver: the keyspace's data is gone (Redis restarted empty, or was flushed). */
  | 'data_lost'
  /** Redis driver: Redis is behind revisions this replica had seen (a failover or restart that lost writes). */
  | 'regressed';

export const KEYSPACE_CHANGE_REASONS: readonly KeyspaceChangeReason[] = ['unclean_restart', 'snapshot_discarded', 'data_lost', 'regressed'];

/** A new keyspace id. */
export function newKeyspaceId(): string {
  return randomBytes(6).toString('hex');
}

const KEYSPACE_ID = /^[0-9a-f]{12}$/;

export function isKeyspaceId(value: string): boolean {
  return KEYSPACE_ID.test(value);
}

/**
 * A point in a keyspace's history, as watch ids (`id:`, Last-Event-ID), `since` and ETags carry it:
 * `<keyspace>:<revision>`. A bare revision (keyspace null) is read in the store's current keyspace.
 */
export interface Position {
  readonly keyspace: string | null;
  readonly revision: number;
}

/** A position in a known keyspace: what the store hands out. */
export interface KeyspacePosition extends Position {
  readonly keyspace: string;
}

/** The text form of a position: `<keyspace>:<revision>`. */
export function formatPosition({ keyspace, revision }: KeyspacePosition): string {
  return `${keyspace}:${revision}`;
}

/** Largest revision a client may name: 2^53 - 1, the largest integer a JSON number carries exactly. */
const MAX_REVISION = Number.MAX_SAFE_INTEGER;

/** `<keyspace>:<revision>` or a bare `<revision>`, or null when `text` is neither. */
export function parsePosition(text: string): Position | null {
  const match = /^(?:([0-9a-f]{12}):)?(0|[1-9]\d{0,15})$/.exec(text);
  if (!match) return null;
  const revision = Number(match[2]);
  if (revision > MAX_REVISION) return null;
  return { keyspace: match[1] ?? null, revision };
}
