import { UnsupportedMediaTypeException } from '@nestjs/common';
import bodyParser from 'body-parser';
import type { NextFunction, Request, Response } from 'express';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError } from '../errors/domain.errors';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * What nearly every client sends as its Content-Type, recognised without parsing it: requireJsonBody accepts it at
 * once, and jsonBodyParser reads only bodies of this type itself (any other spelling may be one body-parser refuses).
 */
const isPlainJsonType = (type: string | undefined): boolean => type === 'application/json' || type === 'application/json; charset=utf-8';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Marks a request whose body is declared as JSON, as requireJsonBody found: the body parser reads only these. A mark
 * on the request rather than a WeakSet of requests: such a set lives long and changes with every request, and V8
 * builds a long-lived table's replacements in the old generation, as garbage only a full collection takes back.
 */
const JSON_BODY = Symbol('kv.jsonBody');
type Marked = IncomingMessage & { [JSON_BODY]?: true };

/**
 * A write with a body must declare it as JSON (415 otherwise): we never guess at other encodings. The answer is
 * kept for the body parser (`isJsonBody`), so the Content-Type header is parsed once per request, not twice.
 */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const { 'transfer-encoding': encoding, 'content-length': length } = req.headers;
  // What type-is counts as a body (an empty one included), as the body parser always has: an empty JSON body
  // still reads as {}.
  if (encoding === undefined && length === undefined) {
    next();
    return;
  }
  const type = req.headers['content-type'];
  // Answered without parsing the header (type-is parses it on every call).
  if (isPlainJsonType(type)) {
    (req as Marked)[JSON_BODY] = true;
  } else if (req.is(JSON_TYPES)) {
    // JSON is UTF-8 (RFC 8259 §8.1): another charset would be decoded into text other than the bytes sent.
    const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      next(new UnsupportedMediaTypeException(`A JSON body must be UTF-8 (got charset=${charset})`));
      return;
    }
    (req as Marked)[JSON_BODY] = true;
  } else if (WRITE_METHODS.has(req.method) && (encoding !== undefined || length !== '0')) {
    next(new UnsupportedMediaTypeException(`Content-Type must be application/json (got ${type ?? 'none'})`));
    return;
  }
  next();
}

/**
 * The body parser's `verify`: a JSON body must be valid UTF-8 (RFC 8259 §8.1). Decoding would otherwise turn the
 * invalid bytes into U+FFFD, and the value stored would not be the one sent. Thrown here, the error reaches the
 * exception filter as the body parser's failure of type `entity.verify.failed`, with this status.
 */
export function refuseInvalidUtf8(_req: IncomingMessage, _res: unknown, body: Buffer): void {
  if (!isUtf8(body)) throw Object.assign(new Error('JSON body is not valid UTF-8'), { status: 400, expose: true });
}

/** The body parser's `type` test: true for the requests requireJsonBody found to declare a JSON body. */
export const isJsonBody = (req: IncomingMessage): boolean => (req as Marked)[JSON_BODY] === true;

/**
 * body-parser's JSON middleware (`strict: false`: any JSON text, so that a scalar or array body gets our clear 400;
 * `verify`: refuseInvalidUtf8), with the body nearly every write sends read without it: one declared as JSON by
 * requireJsonBody, not compressed, with a Content-Length of 1 to `limit` bytes. That body is read whole, checked as
 * UTF-8, decoded (a leading BOM dropped, as body-parser's decoder does) and parsed, and every failure is the error
 * body-parser would pass on, with its `type`, status and message. Everything else (another Content-Type spelling,
 * compressed, chunked or empty bodies, a length over the limit, a request no one declared JSON) goes to body-parser.
 *
 * For a small write, body-parser's reading (raw-body's stream handling, the charset look-up, iconv's decoder)
 * cost more than parsing the JSON itself: `npm run bench:layers`, docs/benchmarks.md.
 */
export function jsonBodyParser(limit: number): Middleware {
  const parser = bodyParser.json({ limit, strict: false, type: isJsonBody, verify: refuseInvalidUtf8 });
  return (req, res, next) => {
    const { 'content-type': type, 'content-length': declared, 'content-encoding': encoding, 'transfer-encoding': chunked } = req.headers;
    const length = Number(declared);
    if (
      // Any other type (another charset's spelling, parameters) is parsed by body-parser, whose charset check may
      // refuse what requireJsonBody let through.
      !isPlainJsonType(type) ||
      !isJsonBody(req) ||
      encoding !== undefined ||
      chunked !== undefined ||
      !(length > 0 && length <= limit) ||
      // A request already read, or whose connection is gone: body-parser hands it on at once.
      req.readableEnded ||
      req.destroyed ||
      req.socket?.readable !== true
    ) {
      parser(req, res, next);
      return;
    }
    readWhole(req, length, (error, body) => {
      if (error) next(error);
      else parseInto(req, body as Buffer, next);
    });
  };
}

/** Reads the `length` bytes of a request body into one Buffer; an aborted request fails as raw-body's does. */
function readWhole(req: IncomingMessage, length: number, done: (error: Error | null, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  };
  const finish = (error: Error | null) => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    if (error) done(error);
    else if (received !== length) done(bodyError(400, 'request size did not match content length', 'request.size.invalid'));
    else done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
  };
  const onEnd = () => finish(null);
  // Node destroys the request with an error when its connection closes before the body is complete.
  const onError = () =>
    finish(Object.assign(bodyError(400, 'request aborted', 'request.aborted'), { code: 'ECONNABORTED', expected: length, length, received }));
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

/** `req.body` from a whole body, or the error body-parser passes on for it (verify, then parse). */
function parseInto(req: Request, body: Buffer, next: NextFunction): void {
  try {
    refuseInvalidUtf8(req, undefined, body);
  } catch (error) {
    next(asBodyError(error as Error, 'entity.verify.failed', body));
    return;
  }
  let text = body.toString();
  // iconv-lite, body-parser's decoder, drops a byte order mark.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    req.body = text.length === 0 ? {} : (JSON.parse(text) as unknown);
  } catch (error) {
    next(asBodyError(error as Error, 'entity.parse.failed', text));
    return;
  }
  next();
}

/**
 * The shape http-errors gives body-parser's failures (a `status` equal to `statusCode`, `expose`, a `type`), which is
 * how Nest's Express adapter recognises them and the exception filter words them.
 */
function asBodyError(error: Error, type: string, body: unknown): Error {
  const status = (error as { status?: number }).status ?? 400;
  return Object.assign(error, { status, statusCode: status, expose: status < 500, type, body });
}

const bodyError = (status: number, message: string, type: string): Error => asBodyError(Object.assign(new Error(message), { status }), type, undefined);

/**
 * What is wrong with a parsed JSON body, or null: nesting deeper than `maxDepth`, or a number JSON.parse could
 * only read as Infinity (1e999, a 400-digit integer), which would be stored as null. Iterative: a hostile body
 * must not exhaust the stack here, nor reach code further on that recurses (validation, JSON.stringify).
 */
export function jsonBodyProblem(value: unknown, maxDepth: number): string | null {
  if (typeof value !== 'object' || value === null) return isOutOfRange(value) ? OUT_OF_RANGE : null;
  // Objects and arrays still to look into, and their depths; scalars are checked where they are found.
  const objects: object[] = [value];
  const depths: number[] = [1];
  while (objects.length > 0) {
    const node = objects.pop() as object;
    const depth = depths.pop() as number;
    if (depth > maxDepth) return `JSON body is nested deeper than KV_MAX_JSON_DEPTH=${maxDepth}`;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (typeof child === 'object') {
        if (child !== null) {
          objects.push(child);
          depths.push(depth + 1);
        }
      } else if (isOutOfRange(child)) {
        return OUT_OF_RANGE;
      }
    }
  }
  return null;
}

const OUT_OF_RANGE = 'JSON body has a number out of range (beyond ±1.8e308)';
const isOutOfRange = (value: unknown): boolean => typeof value === 'number' && !Number.isFinite(value);

/** 400 for a JSON body nested deeper than KV_MAX_JSON_DEPTH or holding an out-of-range number (after the body parser). */
export function checkJsonBody(maxDepth: number): Middleware {
  return (req, _res, next) => {
    const problem = req.body === undefined ? null : jsonBodyProblem(req.body, maxDepth);
    next(problem === null ? undefined : new InvalidRequestError(problem));
  };
}

