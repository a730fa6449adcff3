import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError } from '../errors/domain.errors';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

const JSON_TYPES = ['application/json', 'application/*+json'];
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
  // What nearly every client sends, answered without parsing it (type-is parses the header on every call).
  if (type === 'application/json' || type === 'application/json; charset=utf-8') {
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

