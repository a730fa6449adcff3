import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import type { Params } from 'nestjs-pino';
import { routeOf } from '../../metrics/http-metrics.middleware';
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

// Probes and scrapes arrive every few seconds from machines: their lines would drown everything else.
const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/**
 * Structured JSON request logs: one line per request with method, url, route, status, duration and
 * request id. 5xx log at error, 4xx at warn, the rest at info; health and metrics only at debug.
 */
export function loggerOptions(level: LogLevel): Params {
  return {
    pinoHttp: {
      level,
      genReqId: requestId,
      customLogLevel: (req, res, error) => {
        if (error || res.statusCode >= 500) return 'error';
        if (res.statusCode >= 400) return 'warn';
        return QUIET_PATHS.test(req.url ?? '') ? 'debug' : 'info';
      },
      // Only the completion line gets the route: it is known after routing, not when the request starts.
      customSuccessObject: (req, _res, value: object) => ({ ...value, route: routeOf(req as Request) }),
      customErrorObject: (req, _res, _error, value: object) => ({ ...value, route: routeOf(req as Request) }),
      // Keep request lines small: the full header dump is noise (and, later, may hold credentials).
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
