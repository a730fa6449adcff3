import { type OnModuleInit } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import type { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';

/**
 * The route templates (`/keys/:key`) of the handlers marked with one metadata key, for middleware that runs outside
 * Nest's pipeline and must know what a route is: it asks the route a request matched (or would match), never its
 * path. Found once, when the application's modules are initialised.
 */
export abstract class MarkedRoutes implements OnModuleInit {
  protected readonly templates = new Set<string>();

  protected constructor(
    private readonly metadataKey: string,
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
        if (this.reflector.get<boolean>(this.metadataKey, handler) !== true) continue;
        const paths = [Reflect.getMetadata(PATH_METADATA, metatype), Reflect.getMetadata(PATH_METADATA, handler)] as (string | undefined)[];
        // As Nest joins them into the template Express routes by: `watch` and `/` are `/watch`.
        this.templates.add(`/${paths.flatMap((p) => (p ?? '').split('/')).filter(Boolean).join('/')}`);
      }
    }
  }

  /** Whether `template` (a route's path, as Express keeps it) is one of the marked routes. */
  has(template: string | undefined): boolean {
    return template !== undefined && this.templates.has(template);
  }
}
