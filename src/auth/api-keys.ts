import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigValidationError } from '../config/env.validation';

export const ROLES = ['read', 'write', 'admin'] as const;
/** What a key may do: `read` the GET routes and watch, `write` also mutate, `admin` also manage subscriptions. */
export type Role = (typeof ROLES)[number];

/** Keys shorter than this are refused at start-up: they could be guessed. */
export const MIN_API_KEY_LENGTH = 16;

/** Who made a request: the role of the key it presented, and a fingerprint of it that is safe to log or count by. */
export interface Principal {
  readonly role: Role;
  /** The first 12 hex digits of the key's SHA-256: identifies the key without revealing it. */
  readonly keyId: string;
}

interface StoredKey {
  readonly role: Role;
  readonly digest: Buffer;
  readonly keyId: string;
}

/** A malformed API key configuration: like any bad setting, it stops the start with one line (never the keys). */
export class ApiKeyConfigError extends ConfigValidationError {}

const digestOf = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** True when `role` includes everything `required` allows. */
export function roleAllows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

/**
 * Parses `role:key` entries separated by commas or newlines (blank entries are skipped). `source` names where
 * they came from in error messages, which never include the keys themselves.
 */
export function parseApiKeys(text: string, source: string): { role: Role; key: string }[] {
  const entries: { role: Role; key: string }[] = [];
  text.split(/[,\r\n]+/).forEach((raw, index) => {
    const entry = raw.trim();
    if (entry === '') return;
    const colon = entry.indexOf(':');
    const role = entry.slice(0, colon);
    const key = entry.slice(colon + 1);
    if (colon < 0 || !(ROLES as readonly string[]).includes(role)) {
      throw new ApiKeyConfigError(`${source}: entry ${index + 1} must be role:key with role ${ROLES.join(', ')}`);
    }
    if (key.length < MIN_API_KEY_LENGTH || /\s/.test(key)) {
      throw new ApiKeyConfigError(`${source}: the ${role} key of entry ${index + 1} must be at least ${MIN_API_KEY_LENGTH} characters, without spaces`);
    }
    entries.push({ role: role as Role, key });
  });
  return entries;
}

/**
 * The configured API keys. Only SHA-256 digests are kept; a presented key is compared with every one of them in
 * constant time, so neither its content nor which key it resembles shows in the response time.
 */
export class ApiKeyRegistry {
  private readonly keys: readonly StoredKey[];

  constructor(entries: readonly { role: Role; key: string }[]) {
    const seen = new Set<string>();
    this.keys = entries.map(({ role, key }) => {
      const digest = digestOf(key);
      const keyId = digest.toString('hex').slice(0, 12);
      if (seen.has(keyId)) throw new ApiKeyConfigError(`API key ${keyId}… is configured twice`);
      seen.add(keyId);
      return { role, digest, keyId };
    });
  }

  /** No keys configured: every route is open. */
  get open(): boolean {
    return this.keys.length === 0;
  }

  get size(): number {
    return this.keys.length;
  }

  /** The principal a presented key stands for, or null for an unknown key. */
  authenticate(presented: string): Principal | null {
    const digest = digestOf(presented);
    let found: StoredKey | null = null;
    for (const stored of this.keys) {
      // No early exit: every key is compared whatever matched.
      if (timingSafeEqual(stored.digest, digest)) found = stored;
    }
    return found && { role: found.role, keyId: found.keyId };
  }
}

/**
 * The keys of API_KEYS and of API_KEYS_FILE (when set) together. main.ts calls it before Nest starts, so a bad
 * entry stops the start with one line, as a bad setting does.
 */
export function loadApiKeys(apiKeys: string, file: string): ApiKeyRegistry {
  const entries = parseApiKeys(apiKeys, 'API_KEYS');
  if (file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ApiKeyConfigError(`API_KEYS_FILE ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    entries.push(...parseApiKeys(text, `API_KEYS_FILE ${file}`));
  }
  return new ApiKeyRegistry(entries);
}
