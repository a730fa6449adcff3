import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { until } from './until';
import { waiters } from './waiters';

export interface ReceivedHook {
  readonly headers: http.IncomingHttpHeaders;
  readonly rawBody: string;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

/** What to answer one request with: a status, optionally after a delay. */
export type Reply = { status: number; delayMs?: number };

export interface WebhookReceiver {
  readonly url: string;
  /** Requests in arrival order, including failed attempts. */
  readonly received: ReceivedHook[];
  /** Decides the answer to each request (default 200). */
  reply: (hook: ReceivedHook, index: number) => Reply;
  waitFor(predicate: (received: ReceivedHook[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records every webhook POST and answers as told. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const waiting = waiters(received, () => `received ${received.length}: ${received.map((r) => r.rawBody).join('\n')}`);
  const receiver = {
    received,
    reply: (() => ({ status: 200 })) as WebhookReceiver['reply'],
  } as WebhookReceiver & { url: string };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const hook: ReceivedHook = { headers: req.headers, rawBody: raw, body: JSON.parse(raw) as Record<string, unknown>, at: Date.now() };
      const index = received.length;
      received.push(hook);
      waiting.notify();
      const { status, delayMs = 0 } = receiver.reply(hook, index);
      const timer = setTimeout(() => res.writeHead(status).end(), delayMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.waitFor = waiting.waitFor;
  receiver.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return receiver;
}

/** The state `GET /subscriptions/:id` shows, as far as the tests read it. */
export type SubscriptionState = Record<string, unknown>;

/**
 * The state of subscription `id` on the service at `baseUrl` once `reached` holds, by default once nothing is
 * pending. A receiver sees a hook before the dispatcher has settled it (acknowledged it, recorded
 * lastDeliveredRevision), so a state read just after the last hook arrived may still count that hook as pending.
 * Returns the last state read when `timeoutMs` passes first, for the caller's assertions to report.
 */
export async function settledSubscription(
  baseUrl: string,
  id: string,
  reached: (state: SubscriptionState) => boolean = (state) => state.pending === 0,
  timeoutMs = 5000,
): Promise<SubscriptionState> {
  let state: SubscriptionState = {};
  await until(async () => reached((state = (await request(baseUrl).get(`/subscriptions/${id}`).expect(200)).body)), timeoutMs, 20);
  return state;
}
