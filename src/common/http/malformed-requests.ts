import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorJson } from './error-body';

/**
 * The origin form (`/path?query`) of a request target, or null when it is none that HTTP/1.1 allows: an
 * absolute-form target (`GET http://host/path`, which servers must accept) is brought to its path, so routing
 * and URL parsing further on only ever see a path.
 */
export function originFormOf(target: string, method: string | undefined): string | null {
  if (target.startsWith('/') || (target === '*' && method === 'OPTIONS')) return target;
  try {
    const url = new URL(target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? `${url.pathname}${url.search}` : null;
  } catch {
    return null;
  }
}

/**
 * Writes the JSON error answer (no body for HEAD) for a request the application never sees, and closes the
 * connection once the client has sent the body it is still sending, `lingerMs` at the most (`lingerOnClose`).
 */
export function answerOutsideApp(res: ServerResponse, status: number, message: string, lingerMs: number): void {
  const body = errorJson(status, message);
  lingerOnClose(res.req, lingerMs);
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The JSON 405 to a CONNECT (a request to open a tunnel, as to a proxy), then the end of the connection. */
export function answerConnect(req: IncomingMessage, socket: Socket, lingerMs: number): void {
  // Node removed its own error handler when it handed the socket over: a reset must not become an uncaught error.
  socket.on('error', () => socket.destroy());
  // And a client that never reads the answer must not hold the socket.
  setTimeout(() => socket.destroy(), lingerMs).unref();
  const body = errorJson(405, `CONNECT is not supported: kv-store is not a proxy (asked for ${req.url ?? ''})`);
  socket.end(
    `HTTP/1.1 405 ${STATUS_CODES[405]}\r\nAllow: GET, HEAD, POST, PUT, DELETE\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request head exceeds HTTP_MAX_HEADER_BYTES'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request not received in time'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'Request headers not received in time'],
};

/**
 * Answers requests that are not valid HTTP, and expectations it does not support (Node would answer both itself,
 * before the application sees them), in the same JSON error shape as everything else, then closes the connection.
 */
export function answerClientErrorsWithJson(server: Server, maxHeaderBytes: number, requestTimeoutMs: number): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Malformed HTTP request'];
    const body = errorJson(status, status === 431 ? `${message}=${maxHeaderBytes}` : message);
    // An answer to HEAD has no body, even when the request could not be parsed past its method.
    const head = (error as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
    );
  });
  // Node answers an Expect other than 100-continue itself, with an empty 417 and the connection left open with
  // the unread body in it; answer in JSON and close instead.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) =>
    answerOutsideApp(res, 417, `Expectation not supported: ${String(req.headers.expect)}`, requestTimeoutMs),
  );
}

/**
 * Closes the connection of an answer sent before the request body was read without cutting the body off: the
 * answer and the end of our side go out at once, but the socket keeps reading (and dropping) what the client is
 * still sending until the body is complete, the client closes, or `maxMs` pass. Closing at once would make the
 * kernel reset a connection with unread data, and a client still uploading would see EPIPE or ECONNRESET instead
 * of the answer (the "lingering close" of RFC 9112, section 9.6).
 */
function lingerOnClose(req: IncomingMessage, maxMs: number): void {
  const socket = req.socket as Socket & { destroySoon?: () => void };
  // Node's server ends and destroys a `Connection: close` socket through destroySoon once the answer is done.
  if (typeof socket.destroySoon !== 'function') return;
  socket.destroySoon = () => {
    if (socket.writable) socket.end();
    const destroy = () => {
      clearTimeout(timer);
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    };
    const timer = setTimeout(destroy, maxMs);
    if (req.complete) destroy();
    else req.once('end', destroy).once('error', destroy);
    socket.once('close', () => clearTimeout(timer));
  };
}
