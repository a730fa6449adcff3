import http, { type IncomingMessage } from 'node:http';
import { waiters } from './waiters';

export interface SseFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly comment?: string;
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

/** A real HTTP client reading a real event stream, frame by frame (WHATWG event-stream parsing). */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const frames: SseFrame[] = [];
      let buffer = '';
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
        buffer += text;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: Record<string, string | number> = { chunk };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim();
            else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              frame[field] = field === 'data' && frame.data !== undefined ? `${frame.data}\n${value}` : value;
            }
          }
          frames.push(frame as unknown as SseFrame);
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
