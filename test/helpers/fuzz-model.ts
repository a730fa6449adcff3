import type { Write } from './fuzz-oracle';

/**
 * The fuzz suite's model of the store: every write the server acknowledged (and every write whose outcome is
 * unknown: no answer, or a 5xx), with the time window in which it took effect. Requests run concurrently, so
 * the order of two writes is known only when one was acknowledged before the other was sent; the model keeps
 * every write that may have been the last one, and a key's final state must be one of those.
 */
interface Mutation {
  readonly value?: string;
  readonly ttlSeconds?: number;
  readonly expiresAt?: number | null;
  /** When the request was sent and when its answer arrived (ms since epoch). */
  readonly sent: number;
  readonly acked: number;
  /** False when it may or may not have been applied. */
  readonly certain: boolean;
  readonly source: string;
}

/** Leeway for expiry: the server's clock read happens somewhere between our send and our ack. */
const EXPIRY_SLACK_MS = 150;

export class StoreModel {
  private readonly mutations = new Map<string, Mutation[]>();

  record(write: Write, sent: number, acked: number, certain: boolean, source: string): void {
    let list = this.mutations.get(write.key);
    if (!list) this.mutations.set(write.key, (list = []));
    list.push({ value: write.value, ttlSeconds: write.ttlSeconds, expiresAt: write.expiresAt, sent, acked, certain, source });
  }

  keys(): string[] {
    return [...this.mutations.keys()];
  }

  get size(): number {
    return this.mutations.size;
  }

  /**
   * Checks a key's state as read by a request sent at `from` and answered at `to` (`actual`: its value as JSON
   * text, or null when absent). Returns a description of the mismatch, or null when the acknowledged history
   * allows that state.
   */
  check(key: string, actual: string | null, from: number, to = from): string | null {
    const list = this.mutations.get(key) ?? [];
    const certain = list.filter((m) => m.certain);
    // A write sent after another was acknowledged certainly came after it.
    const lastSend = certain.reduce((max, m) => Math.max(max, m.sent), -Infinity);
    const candidates = [...certain.filter((m) => m.acked >= lastSend), ...list.filter((m) => !m.certain && m.acked + 10_000 >= lastSend)];
    const absentAllowed = certain.length === 0;
    if (absentAllowed && actual === null) return null;
    for (const m of candidates) {
      if (m.value === undefined) {
        if (actual === null) return null;
        continue;
      }
      // The acknowledged expiry when the answer told it (PUT), else the window the requested ttl allows.
      const [expiresEarliest, expiresLatest] =
        m.expiresAt !== undefined
          ? m.expiresAt === null
            ? [Infinity, Infinity]
            : [m.expiresAt - EXPIRY_SLACK_MS, m.expiresAt + EXPIRY_SLACK_MS]
          : m.ttlSeconds === undefined
            ? [Infinity, Infinity]
            : [m.sent + m.ttlSeconds * 1000 - EXPIRY_SLACK_MS, m.acked + m.ttlSeconds * 1000 + EXPIRY_SLACK_MS];
      if (actual === null && to >= expiresEarliest) return null;
      if (actual !== null && actual === m.value && from <= expiresLatest) return null;
    }
    const describe = (m: Mutation) =>
      `${m.value === undefined ? 'delete' : `set ${m.value.slice(0, 60)}${m.ttlSeconds === undefined ? '' : ` ttl ${m.ttlSeconds}s`}`} ` +
      `[${m.certain ? 'acknowledged' : 'unknown outcome'}, request ${m.source}]`;
    return (
      `${JSON.stringify(key).slice(0, 80)} is ${actual === null ? 'absent' : actual.slice(0, 80)}; allowed: ` +
      `${[...(absentAllowed ? ['absent (never written)'] : []), ...candidates.map(describe)].join(' or ') || 'nothing'} ` +
      `(${list.length} writes in all)`
    );
  }
}
