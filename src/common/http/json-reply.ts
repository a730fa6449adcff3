import type { Express, Response } from 'express';

/**
 * Sends `body` as `res.json(body)` would (with `status`), when that would be its JSON text with only
 * `Content-Type: application/json; charset=utf-8` and `Content-Length` added, and returns true; returns false,
 * having done nothing, whenever Express could answer differently. `res.json()` gets to the same bytes in more
 * steps, on every JSON answer: it looks up the app's JSON and ETag settings, parses the Content-Type it has just
 * set to add the charset, and checks the request's freshness (`npm run bench:layers`).
 *
 * Left to Express: a body that is not a plain object or array; an answer without a body (204, 205, 304, HEAD);
 * a conditional request (If-None-Match, If-Modified-Since: Express may answer it 304); a Content-Type or
 * Transfer-Encoding already set; and an app with ETags or JSON settings (replacer, spaces, escape).
 */
export function sendJsonAsIs(response: Response, body: unknown, status: number, app: Express): boolean {
  if (!isPlainJson(body) || !answeredAsIs(response, status, app.settings as Record<string, unknown>)) return false;
  // A toJSON() may turn even a plain object into no JSON text at all: Express knows what to send for that.
  const text = JSON.stringify(body) as string | undefined;
  if (text === undefined) return false;
  response.status(status);
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', String(Buffer.byteLength(text)));
  response.end(text);
  return true;
}

/** A plain object or an array: JSON.stringify writes it as `res.json()` does (which calls it too). */
function isPlainJson(body: unknown): body is object {
  if (typeof body !== 'object' || body === null) return false;
  return Object.getPrototypeOf(body) === Object.prototype || Array.isArray(body);
}

function answeredAsIs(response: Response, status: number, settings: Record<string, unknown>): boolean {
  const { headers, method } = response.req;
  return (
    status !== 204 &&
    status !== 205 &&
    status !== 304 &&
    method !== 'HEAD' &&
    headers['if-none-match'] === undefined &&
    headers['if-modified-since'] === undefined &&
    !response.hasHeader('content-type') &&
    !response.hasHeader('transfer-encoding') &&
    settings['etag fn'] === undefined &&
    settings['json replacer'] === undefined &&
    settings['json spaces'] === undefined &&
    !settings['json escape']
  );
}
