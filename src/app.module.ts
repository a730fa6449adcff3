import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { AuthModule } from './auth/auth.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { loggerOptions } from './common/logging/logger.options';
import { KvValidationPipe } from './common/validation/kv-validation.pipe';
import { toInvalidRequest } from './common/validation/validation-error';
import type { AppConfig } from './config/app-config';
import { validateEnvironment } from './config/env.validation';
import { HealthModule } from './health/health.module';
import { KeyValueModule } from './key-value/key-value.module';
import { MetricsModule } from './metrics/metrics.module';
import { SearchModule } from './search/search.module';
import { SubscriptionModule } from './subscription/subscription.module';
import { StoreModule } from './store/store.module';

export interface AppModuleOptions {
  /**
   * The environment to configure from: main.ts passes the process environment; tests pass their own,
   * so nothing from the machine leaks in and nothing leaks out.
   */
  readonly env: Record<string, string | undefined>;
}

@Module({})
export class AppModule {
  static forRoot({ env }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          skipProcessEnv: true,
          validate: () => validateEnvironment(env),
        }),
        LoggerModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: AppConfig) => loggerOptions(config.getOrThrow('LOG_LEVEL', { infer: true })),
        }),
        MetricsModule,
        AuthModule,
        StoreModule,
        HealthModule,
        KeyValueModule,
        SearchModule,
        SubscriptionModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        {
          provide: APP_PIPE,
          useValue: new KvValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
            exceptionFactory: toInvalidRequest,
          }),
        },
      ],
    };
  }
}
