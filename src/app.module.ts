import { type DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { ValidationError } from 'class-validator';
import { LoggerModule } from 'nestjs-pino';
import { InvalidRequestError } from './common/errors/domain.errors';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { loggerOptions } from './common/logging/logger.options';
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

function flatten(errors: readonly ValidationError[]): string[] {
  return errors.flatMap((e) => [...Object.values(e.constraints ?? {}), ...flatten(e.children ?? [])]);
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
          useValue: new ValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
            exceptionFactory: (errors) => {
              const details = flatten(errors);
              return new InvalidRequestError(`Invalid request: ${details.join('; ')}`, details);
            },
          }),
        },
      ],
    };
  }
}
