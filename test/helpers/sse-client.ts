import http, { type IncomingMessage } from 'node:http';
import { type SseFrame as ParsedFrame, SseParser } from '../../src/cli/sse.parser';
import { waiters } from './waiters';

/** A frame as the CLI's parser reads it (comments included), with `retry` as sent and the chunk it came in. */
export interface SseFrame extends Omit<ParsedFrame, 'retry'> {
  /** In milliseconds, as text, like the other fields. */
  readonly retry?: string;
  /** Which network chunk completed this frame: frames of one server write share it. */
  readonly chunk: number;
}

export interface SseClient {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly frames: SseFrame[];
  /** Parsed `data` of the frames that carry an event (not comments, not id-only progress frames). */
  events(): { id: string; event: string; data: Record<string, unknown> }[];
  /** Resolves once `predicate` holds for the frames received, or rejects after `timeoutMs`. */
  waitFor(predicate: (frames: SseFrame[]) => boolean, timeoutMs?: number): Promise<void>;
  readonly ended: Promise<void>;
  readonly response: IncomingMessage;
  close(): void;
}

/** A real HTTP client reading a real event stream, frame by frame, with the `kv` CLI's parser (comments included). */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const frames: SseFrame[] = [];
      const parser = new SseParser({ comments: true });
      let chunk = 0;
      let body = '';
      const waiting = waiters(frames, () => `${JSON.stringify(frames, null, 1)}\n${body}`);
      const ended = new Promise<void>((done) => res.on('close', done));
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        chunk++;
        if (res.statusCode !== 200) {
          body += text;
          return;
        }
        for (const { retry, ...fields } of parser.push(text)) {
          frames.push({ ...fields, ...(retry !== undefined && { retry: String(retry) }), chunk });
        }
        waiting.notify();
      });
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        response: res,
        ended,
        events: () =>
          frames
            .filter((f) => f.data !== undefined && f.event !== undefined)
            .map((f) => ({ id: f.id ?? '', event: f.event as string, data: JSON.parse(f.data as string) as Record<string, unknown> })),
        waitFor: waiting.waitFor,
        close: () => req.destroy(),
      };
      if (res.statusCode !== 200) {
        res.on('end', () => {
          Object.assign(client, { body: JSON.parse(body || '{}') });
          resolve(client);
        });
      } else {
        resolve(client);
      }
    });
    req.on('error', reject);
  });
}

/** The JSON error body of a stream request that was refused (status != 200). */
export const refusedBody = (client: SseClient): Record<string, unknown> => (client as unknown as { body: Record<string, unknown> }).body;
