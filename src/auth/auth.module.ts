import { type DynamicModule, Module } from '@nestjs/common';
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

/** What AuthModule needs to know of the settings: which guards there is anything for. */
export interface AuthOptions {
  /** RATE_LIMIT > 0. */
  readonly rateLimited: boolean;
  /** API keys are configured (API_KEYS or API_KEYS_FILE). */
  readonly keyed: boolean;
}

/**
 * Access control and rate limiting, as global guards in this order: the rate limit first (so guessing keys
 * costs budget too), then the API key's role. A guard with nothing to do is not installed at all: with none,
 * Nest skips its guard pipeline for every request (`npm run bench:layers` measured it on the hot path).
 */
@Module({})
export class AuthModule {
  static forRoot({ rateLimited, keyed }: AuthOptions): DynamicModule {
    return {
      module: AuthModule,
      imports: rateLimited ? [ThrottlerModule.forRootAsync({ inject: [AppConfig, ApiKeyRegistry], useFactory: rateLimitOptions })] : [],
      providers: [
        ...(rateLimited ? [{ provide: APP_GUARD, useClass: RateLimitGuard }] : []),
        ...(keyed ? [{ provide: APP_GUARD, useClass: ApiKeyGuard }] : []),
      ],
    };
  }
}
