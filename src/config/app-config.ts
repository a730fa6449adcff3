import type { ConfigService } from '@nestjs/config';
import type { EnvironmentVariables } from './env.validation';

/** The validated, typed configuration: `config.getOrThrow('PORT', { infer: true })` is a number. */
export type AppConfig = ConfigService<EnvironmentVariables, true>;
