import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './app-config';
import type { EnvironmentVariables } from './env.validation';

/**
 * The configuration, from settings the entry point has already validated (validateEnvironment): main.ts from the
 * process environment, tests from their own. Validated once, before Nest starts, so that a bad setting stops the
 * start with one line; here they are only made injectable, as AppConfig. Nothing is read from process.env or an
 * env file, and nothing is written back to process.env (ConfigModule's `validate` would copy every setting there).
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(settings: EnvironmentVariables): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, ignoreEnvVars: true, skipProcessEnv: true, load: [() => ({ ...settings })] })],
      providers: [{ provide: AppConfig, useExisting: ConfigService }],
      exports: [AppConfig],
    };
  }
}
