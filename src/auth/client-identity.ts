import type { Request } from 'express';
import { ApiKeyRegistry, type Principal } from './api-keys';

/** What a request presented as its API key: the key, `null` for none, or `undefined` for an unusable header. */
export function credentialOf(req: Request): string | null | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return match ? match[1] : undefined;
  }
  const apiKey = req.headers['x-api-key'];
  if (apiKey === undefined) return null;
  return typeof apiKey === 'string' && apiKey.trim() !== '' ? apiKey.trim() : undefined;
}

/** The client of one request, as rate limits and stream limits count it. */
export interface Client {
  /** The key's principal, or null when the request presented no valid key. */
  readonly principal: Principal | null;
  /** `key:<keyId>` for a valid key, else `ip:<address>` (the proxy-aware address when TRUST_PROXY is set). */
  readonly id: string;
}

/** The client found for a request, kept on the request (not in a long-lived WeakMap that every request changes). */
const CLIENT = Symbol('kv.client');
type Identified = Request & { [CLIENT]?: Client };

/** Identifies a request's client once (guards and services ask again), without ever keeping the key. */
export function clientOf(req: Request, registry: ApiKeyRegistry): Client {
  let client = (req as Identified)[CLIENT];
  if (!client) {
    const credential = credentialOf(req);
    const principal = typeof credential === 'string' ? registry.authenticate(credential) : null;
    client = { principal, id: principal ? `key:${principal.keyId}` : `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}` };
    (req as Identified)[CLIENT] = client;
  }
  return client;
}
