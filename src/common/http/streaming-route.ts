import { Injectable, SetMetadata } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { MarkedRoutes } from './marked-routes';

const STREAMING_ROUTE = 'kv:streaming-route';

/**
 * Marks a handler whose answer is a long-lived stream (a watch): the request deadline (HTTP_REQUEST_TIMEOUT_MS)
 * does not apply to it.
 */
export const StreamingRoute = (): MethodDecorator => SetMetadata(STREAMING_ROUTE, true);

/** The @StreamingRoute handlers' templates, for the request deadlines (which run outside Nest's pipeline). */
@Injectable()
export class StreamingRoutes extends MarkedRoutes {
  constructor(discovery: DiscoveryService, scanner: MetadataScanner, reflector: Reflector) {
    super(STREAMING_ROUTE, discovery, scanner, reflector);
  }

  /** True when `req` was routed to a streaming handler. */
  matches(req: Request): boolean {
    const template = (req.route as { path?: unknown } | undefined)?.path;
    return typeof template === 'string' && this.has(template);
  }
}
