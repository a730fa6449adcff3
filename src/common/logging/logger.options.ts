import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import type { Params } from 'nestjs-pino';
import pino, { type Level, type Logger } from 'pino';
import { routeOf } from '../../metrics/http-metrics.recorder';
import type { RequestObserver } from '../http/request-lifecycle';
import type { LogLevel } from '../../config/env.validation';

export const REQUEST_ID_HEADER = 'X-Request-Id';

// Accept a caller's id only when it is short and plain, so it cannot forge log lines or bloat them.
const ACCEPTABLE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Honour an incoming X-Request-Id, otherwise mint one; either way echo it on the response. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The request id `assignRequestId` gave a request (for log lines written while answering it). */
export const requestIdOf = (req: Request): string | undefined => (req as { id?: string }).id;

// Probes and scrapes arrive every few seconds from machines: their lines would drown everything else.
const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/** The level of a request's line: 5xx at error, 4xx at warn, probes and scrapes at debug, the rest at info. */
function levelOf(status: number, url: string): Level {
  if (status >= 500) return 'error';
  if (status >= 400) return 'warn';
  return QUIET_PATHS.test(url) ? 'debug' : 'info';
}

/** Gives a request its id (`requestId`) at its start: a `requestLifecycle` starter. */
export function assignRequestId(req: Request, res: Response): void {
  (req as { id?: string }).id = requestId(req, res);
}

/** What accessLog needs of pino's logger: the parts pino itself writes each line with (its exported symbols). */
interface PinoInternals {
  readonly [pino.symbols.streamSym]: { write(line: string): unknown; readonly destroyed?: boolean };
  readonly [pino.symbols.chindingsSym]: string;
}

/** Each open access log's write of its lines still waiting for the end of their event loop turn (a no-op when none). */
const flushes = new Set<() => void>();

/** Hands every open access log's waiting lines to its stream now (the last turn's, when the process exits). */
export function flushAccessLogs(): void {
  for (const flush of flushes) flush();
}
process.on('exit', flushAccessLogs);

/** The request log: a `requestLifecycle` observer, and `close` to write out what waits and forget it. */
export interface AccessLog {
  readonly observe: RequestObserver;
  /** Writes the lines still waiting and leaves the exit hook (when the HTTP server closes). */
  close(): void;
}

/**
 * The request log: one JSON line per request when its response is done, with
 * request id, method, url, status, route template and duration in ms, exactly as pino would write it
 * (`{"level","time","pid","hostname","req":{"id","method","url"},"res":{"statusCode"},"responseTime","route","msg"}`,
 * the shape pino-http writes), on pino's own destination.
 *
 * The line is built here rather than by `logger.info(object, msg)`: its shape never changes, and pino's generic
 * walk over the object (serializers, stringifiers, escaping each key) was the largest single cost the service adds
 * to a request (`npm run bench:layers`). Its strings go through JSON.stringify, so any URL or id is escaped.
 */
export function accessLog(logger: Logger): AccessLog {
  const internals = logger as unknown as PinoInternals;
  const stream = internals[pino.symbols.streamSym];
  // `,"pid":…,"hostname":"…"`: the bindings pino puts after the time on every line.
  const bindings = internals[pino.symbols.chindingsSym];
  const levels = logger.levels.values;
  // Lines of one turn of the event loop go to the stream in one write, at its end: each write of the stream is a
  // system call, which cost more than building the line (`npm run bench:layers`). A line waits at most for the
  // rest of its turn.
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const lines = pending;
    pending = '';
    if (!stream.destroyed) stream.write(lines);
  };
  // Registered once for the log's life, not per turn: a long-lived Set that every turn added to and emptied would
  // rebuild its table each time (see RequestDeadlines).
  flushes.add(flush);
  const observe: RequestObserver = (req, res, seconds) => {
    const statusCode = res.statusCode;
    const url = req.originalUrl;
    const level = levelOf(statusCode, url);
    if (!logger.isLevelEnabled(level)) return;
    const msg = statusCode >= 500 ? 'request errored' : res.writableFinished ? 'request completed' : 'request aborted';
    if (pending === '') setImmediate(flush);
    pending +=
      `{"level":${levels[level]},"time":${Date.now()}${bindings},"req":{"id":${JSON.stringify(requestIdOf(req) ?? null)},"method":${JSON.stringify(req.method)},` +
        `"url":${JSON.stringify(url)}},"res":{"statusCode":${statusCode}},"responseTime":${Math.round(seconds * 1000)},"route":${JSON.stringify(routeOf(req))},"msg":"${msg}"}\n`;
  };
  return {
    observe,
    close: () => {
      flush();
      flushes.delete(flush);
    },
  };
}

/**
 * The application's pino logger (nestjs-pino makes it Nest's logger): JSON lines on stdout at `level`.
 * nestjs-pino mounts no middleware of its own (`forRoutes: []`): `accessLog` writes the request lines.
 */
export function loggerOptions(level: LogLevel): Params {
  return {
    pinoHttp: [
      // accessLog writes the request lines itself; pino-http's serializers of Node's request and response objects
      // are not wanted on anything else.
      { level, wrapSerializers: false },
      // Synchronous writes: the access log hands over one turn of the event loop's lines at a time (accessLog), so
      // this is one write(2) per turn, not per request. Asynchronous writes cost more (each went through libuv's
      // thread pool: 1 to 3 us of CPU per GET more in paired runs) and queued without bound in memory
      // while stdout was not read; a stdout that is not read now holds the process back instead.
      pino.destination({ dest: 1, sync: true }),
    ],
    forRoutes: [],
  };
}
