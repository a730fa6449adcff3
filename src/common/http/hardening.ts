import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import type { ErrorResponseDto } from '../dto/error-response.dto';
import { InvalidRequestError, UriTooLongError } from '../errors/domain.errors';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

// The docs page and its files (Express routes ignore case, so this does too).
const DOCS_PATH = /^\/docs/i;

/**
 * Security headers from helmet. The docs page gets helmet's full set, made for HTML documents, without
 * upgrade-insecure-requests: this server speaks plain HTTP, and a browser opening /docs by host name would
 * otherwise fetch every script of the page over HTTPS and show nothing. Every other answer is JSON and gets the
 * set OWASP's REST Security Cheat Sheet recommends for APIs: a Content-Security-Policy that allows nothing and no
 * framing, nosniff, X-Frame-Options DENY, Cross-Origin-Resource-Policy, no referrer, and HSTS (for deployments
 * behind TLS). The headers only an HTML document heeds are left off JSON answers: sent with every one, they were
 * more than half of its bytes and a measurable share of its CPU time in `npm run bench`.
 */
export function securityHeaders(): Middleware {
  const page = helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } }, xPoweredBy: false });
  const api = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: { action: 'deny' },
    xPermittedCrossDomainPolicies: false,
    xPoweredBy: false,
    xXssProtection: false,
  });
  return (req, res, next) => (DOCS_PATH.test(req.originalUrl) ? page : api)(req, res, next);
}

/** 414 for a request URL longer than HTTP_MAX_URL_BYTES, before anything parses it. */
export function limitUrlLength(maxBytes: number): Middleware {
  return (req, _res, next) => {
    const bytes = Buffer.byteLength(req.originalUrl);
    next(bytes > maxBytes ? new UriTooLongError(`Request URL is ${bytes} bytes; the limit is HTTP_MAX_URL_BYTES=${maxBytes}`) : undefined);
  };
}

/**
 * What is wrong with a parsed JSON body, or null: nesting deeper than `maxDepth`, or a number JSON.parse could
 * only read as Infinity (1e999, a 400-digit integer), which would be stored as null. Iterative: a hostile body
 * must not exhaust the stack here, nor reach code further on that recurses (validation, JSON.stringify).
 */
export function jsonBodyProblem(value: unknown, maxDepth: number): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node === 'number' && !Number.isFinite(node)) return 'JSON body has a number out of range (beyond ±1.8e308)';
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return `JSON body is nested deeper than KV_MAX_JSON_DEPTH=${maxDepth}`;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return null;
}

/** 400 for a JSON body nested deeper than KV_MAX_JSON_DEPTH or holding an out-of-range number (after the body parser). */
export function checkJsonBody(maxDepth: number): Middleware {
  return (req, _res, next) => {
    const problem = req.body === undefined ? null : jsonBodyProblem(req.body, maxDepth);
    next(problem === null ? undefined : new InvalidRequestError(problem));
  };
}

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
  const body = errorBody(status, message);
  lingerOnClose(res.req, lingerMs);
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Query parameters named like prototype members: the validation pipe would drop them silently, so refuse them. */
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'prototype'];

export function rejectPrototypeQueryNames(req: Request, _res: Response, next: NextFunction): void {
  // Express parses the query string anew on every read of req.query: not at all when there is none.
  if (!req.originalUrl.includes('?')) {
    next();
    return;
  }
  const query = req.query as Record<string, unknown>;
  const bad = PROTOTYPE_NAMES.find((name) => Object.prototype.hasOwnProperty.call(query, name));
  next(bad === undefined ? undefined : new InvalidRequestError(`Invalid request: property ${bad} should not exist`, [`property ${bad} should not exist`]));
}

/** The JSON error body, for the few answers written outside the exception filter. */
export function errorBody(statusCode: number, message: string): string {
  const body: ErrorResponseDto = { status: 'error', statusCode, message };
  return JSON.stringify(body);
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
    const body = errorBody(status, status === 431 ? `${message}=${maxHeaderBytes}` : message);
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

/** Express's `trust proxy` value for TRUST_PROXY: off, on, a hop count, or addresses/subnets. */
export function trustProxySetting(value: string): boolean | number | string {
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}
