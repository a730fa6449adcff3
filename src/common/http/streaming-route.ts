import { Injectable, type OnModuleInit, SetMetadata } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { Request } from 'express';

const STREAMING_ROUTE = 'kv:streaming-route';

/**
 * Marks a handler whose answer is a long-lived stream (a watch): the request deadline (HTTP_REQUEST_TIMEOUT_MS)
 * does not apply to it.
 */
export const StreamingRoute = (): MethodDecorator => SetMetadata(STREAMING_ROUTE, true);

/**
 * The route templates of the @StreamingRoute handlers, for middleware that runs outside Nest's pipeline and
 * must tell streams from ordinary requests: it asks the route the request matched, never its path.
 */
@Injectable()
export class StreamingRoutes implements OnModuleInit {
  private readonly templates = new Set<string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const { instance, metatype } of this.discovery.getControllers()) {
      if (!instance || !metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, (...args: unknown[]) => unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (this.reflector.get<boolean>(STREAMING_ROUTE, handler) !== true) continue;
        const paths = [Reflect.getMetadata(PATH_METADATA, metatype), Reflect.getMetadata(PATH_METADATA, handler)] as (string | undefined)[];
        // As Nest joins them into the template Express routes by: `watch` and `/` are `/watch`.
        this.templates.add(`/${paths.flatMap((p) => (p ?? '').split('/')).filter(Boolean).join('/')}`);
      }
    }
  }

  /** True when `req` was routed to a streaming handler. */
  matches(req: Request): boolean {
    const template = (req.route as { path?: unknown } | undefined)?.path;
    return typeof template === 'string' && this.templates.has(template);
  }
}
