import { Injectable, SetMetadata } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { MarkedRoutes } from './marked-routes';
import type { RouteTable } from './route-table';
import { InvalidRequestError } from '../errors/domain.errors';
import { formatPosition, type KeyspacePosition, parsePosition } from '../../store/keyspace';

/**
 * The strong entity tag of a record: its position, keyspace and revision, `"5f0c2a9be41d:42"`. Clients treat it
 * as opaque; a tag from another keyspace never matches, even with the same revision.
 */
export const etagOf = (position: KeyspacePosition): string => `"${formatPosition(position)}"`;

/**
 * Parses an If-Match / If-None-Match value (RFC 9110 §13.1): `*` or a list of entity tags. Tags are compared as
 * the exact strings they are (strong comparison): a well-formed tag we never hand out (`"42"`, `"07"`) simply
 * never matches. Weak tags (`W/"1"`) are refused: strong comparison is required for writes, and every tag we hand
 * out is strong anyway.
 */
export function parseEntityTags(header: string, name: string): '*' | KeyspacePosition[] {
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const positions: KeyspacePosition[] = [];
  for (const part of trimmed.split(',')) {
    const tag = /^\s*"([\x21\x23-\x7e]*)"\s*$/.exec(part);
    if (!tag) {
      throw new InvalidRequestError(`${name} must be * or a list of quoted entity tags such as "5f0c2a9be41d:42" (an ETag)`);
    }
    const position = parsePosition(tag[1]);
    // Only the exact form etagOf writes can match.
    if (position?.keyspace && etagOf(position as KeyspacePosition) === `"${tag[1]}"`) positions.push(position as KeyspacePosition);
  }
  return positions;
}

/** Request headers that make a request conditional on the resource's state (RFC 9110 §13.1). */
export const PRECONDITION_HEADERS = ['if-match', 'if-none-match', 'if-unmodified-since'] as const;

const CONDITIONAL_ROUTE = 'kv:conditional-route';

/**
 * Marks a handler that evaluates If-Match / If-None-Match itself. On every other route those headers are refused
 * (refuseIgnoredPreconditions): a precondition the route would ignore must not let a stale write through.
 */
export const ConditionalRoute = (): MethodDecorator => SetMetadata(CONDITIONAL_ROUTE, true);

/** The @ConditionalRoute handlers' templates. */
@Injectable()
export class ConditionalRoutes extends MarkedRoutes {
  constructor(discovery: DiscoveryService, scanner: MetadataScanner, reflector: Reflector) {
    super(CONDITIONAL_ROUTE, discovery, scanner, reflector);
  }
}

/**
 * Refuses precondition headers (400) on routes that do not evaluate them, instead of ignoring them. A middleware,
 * not a guard: it costs a header lookup on the requests that carry none (nearly all), where a global guard would
 * make Nest run its guard pipeline for every request.
 */
export function refuseIgnoredPreconditions(conditional: ConditionalRoutes, routes: RouteTable): (req: Request, res: Response, next: NextFunction) => void {
  return (req, _res, next) => {
    const headers = req.headers;
    if (headers['if-match'] === undefined && headers['if-none-match'] === undefined && headers['if-unmodified-since'] === undefined) {
      next();
      return;
    }
    const template = routes.templateOf(req.method, req.path);
    if (template === undefined || conditional.has(template)) {
      next();
      return;
    }
    const names = PRECONDITION_HEADERS.filter((name) => headers[name] !== undefined).map((name) =>
      name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => `${dash}${c.toUpperCase()}`),
    );
    next(
      new InvalidRequestError(
        `${names.join(' and ')} ${names.length === 1 ? 'is' : 'are'} not supported on ${req.method} ${template}: ` +
          'conditional requests work on /keys/{key} (If-None-Match and If-Match on GET; If-Match and If-None-Match: * on PUT and DELETE)',
      ),
    );
  };
}
