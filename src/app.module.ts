import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { ApiKeyRegistry } from './auth/api-keys';
import { ApiKeysModule } from './auth/api-keys.module';
import { AuthModule } from './auth/auth.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { HttpPipelineModule } from './common/http/http-pipeline.module';
import { loggerOptions } from './common/logging/logger.options';
import { ValidationModule } from './common/validation/validation.module';
import { AppConfigModule } from './config/app-config.module';
import type { EnvironmentVariables } from './config/env.validation';
import { HealthModule } from './health/health.module';
import { KeyValueModule } from './key-value/key-value.module';
import { MetricsModule } from './metrics/metrics.module';
import { SearchModule } from './search/search.module';
import { StoreModule } from './store/store.module';
import { SubscriptionModule } from './subscription/subscription.module';

export interface AppModuleOptions {
  /**
   * The validated settings (validateEnvironment): main.ts validates the process environment, tests their own, so
   * nothing from the machine leaks into a test and a bad setting stops the start before Nest logs anything.
   */
  readonly settings: EnvironmentVariables;
  /** The API keys of API_KEYS and API_KEYS_FILE, loaded once with the settings (loadApiKeys). */
  readonly apiKeys: ApiKeyRegistry;
}

@Module({})
export class AppModule {
  static forRoot({ settings, apiKeys }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(settings),
        LoggerModule.forRoot(loggerOptions(settings.LOG_LEVEL)),
        ValidationModule,
        MetricsModule,
        ApiKeysModule.forRoot(apiKeys),
        AuthModule.forRoot({ rateLimited: settings.RATE_LIMIT > 0, keyed: !apiKeys.open }),
        StoreModule.forRoot(settings),
        HealthModule,
        KeyValueModule,
        SearchModule,
        SubscriptionModule,
        HttpPipelineModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    };
  }
}
