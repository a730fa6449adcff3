import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, type ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeyRegistry } from './api-keys';
import { clientOf } from './client-identity';
import { RateLimitGuard } from './rate-limit.guard';

function rateLimitOptions(config: AppConfig, registry: ApiKeyRegistry): ThrottlerModuleOptions {
  const limit = config.getOrThrow('RATE_LIMIT', { infer: true });
  const ttl = config.getOrThrow('RATE_LIMIT_WINDOW_MS', { infer: true });
  return {
    throttlers: [{ limit, ttl }],
    // RateLimitGuard skips before reaching this; kept so the stock guard would never throttle at limit 0 either.
    skipIf: () => limit === 0,
    // Per API key, so clients behind one proxy address do not share a budget; per address when open.
    getTracker: (req) => clientOf(req as Request, registry).id,
    errorMessage: `Rate limit exceeded: RATE_LIMIT=${limit} requests per RATE_LIMIT_WINDOW_MS=${ttl}`,
  };
}

/**
 * Access control and rate limiting, as global guards in this order: the rate limit first (so guessing keys
 * costs budget too), then the API key's role.
 */
@Module({
  imports: [ThrottlerModule.forRootAsync({ inject: [AppConfig, ApiKeyRegistry], useFactory: rateLimitOptions })],
  providers: [
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
})
export class AuthModule {}
