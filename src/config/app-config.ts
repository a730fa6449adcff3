import { ConfigService } from '@nestjs/config';
import type { EnvironmentVariables } from './env.validation';

/**
 * The validated, typed configuration, injected by this class everywhere (`constructor(config: AppConfig)`):
 * `config.getOrThrow('PORT', { infer: true })` is a number. AppConfigModule binds it to Nest's ConfigService.
 */
export abstract class AppConfig extends ConfigService<EnvironmentVariables, true> {}
