import { Global, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config';
import { ApiKeyRegistry, loadApiKeys } from './api-keys';

/** The configured API keys, for the guards and for anything that counts per client (global). */
@Global()
@Module({
  providers: [
    {
      provide: ApiKeyRegistry,
      inject: [ConfigService],
      useFactory: (config: AppConfig) => loadApiKeys(config.getOrThrow('API_KEYS', { infer: true }), config.getOrThrow('API_KEYS_FILE', { infer: true })),
    },
  ],
  exports: [ApiKeyRegistry],
})
export class ApiKeysModule implements OnModuleInit {
  constructor(private readonly registry: ApiKeyRegistry) {}

  onModuleInit(): void {
    const logger = new Logger('Auth');
    if (this.registry.open) {
      logger.warn('No API keys configured (API_KEYS, API_KEYS_FILE): every route is open to anyone who can reach this service');
    } else {
      logger.log(`${this.registry.size} API key(s) loaded`);
    }
  }
}
