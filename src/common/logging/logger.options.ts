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

/**
 * The request log, a `requestLifecycle` observer: one JSON line per request when its response is done, with
 * request id, method, url, status, route template and duration in ms
 * (`{"req":{"id","method","url"},"res":{"statusCode"},"responseTime","route"}`, the shape pino-http writes).
 *
 * Written here rather than by pino-http's middleware: profiling `npm run bench` showed that, per request,
 * pino-http's child logger, its three listeners and the two Nest middleware layers it is mounted with cost about
 * as much as the line itself, and this service needs none of them (nothing else logs per request).
 */
export function logRequest(logger: Logger): RequestObserver {
  return (req, res, seconds) => {
    const statusCode = res.statusCode;
    const url = req.originalUrl;
    const level = levelOf(statusCode, url);
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      { req: { id: requestIdOf(req), method: req.method, url }, res: { statusCode }, responseTime: Math.round(seconds * 1000), route: routeOf(req) },
      statusCode >= 500 ? 'request errored' : res.writableFinished ? 'request completed' : 'request aborted',
    );
  };
}

/**
 * The application's pino logger (nestjs-pino makes it Nest's logger): JSON lines on stdout at `level`.
 * nestjs-pino mounts no middleware of its own (`forRoutes: []`): `logRequest` writes the request lines.
 */
export function loggerOptions(level: LogLevel): Params {
  return {
    pinoHttp: [
      // logRequest passes plain objects as `req` and `res`: pino-http's serializers of Node's request and response
      // objects must not see them.
      { level, wrapSerializers: false },
      // Asynchronous writes: a line is queued and written with the ones queued while the previous write was in
      // flight, instead of one blocking write(2) per request on the hot path. pino flushes what is queued when
      // the process exits (only a SIGKILL can lose the last lines).
      pino.destination({ dest: 1, sync: false }),
    ],
    forRoutes: [],
  };
}
