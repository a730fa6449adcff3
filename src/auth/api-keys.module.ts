import { type DynamicModule, Global, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { ApiKeyRegistry } from './api-keys';

/**
 * The configured API keys, for the guards and for anything that counts per client (global). The entry point loads
 * them once with the settings (loadApiKeys), so a bad entry stops the start with one line before Nest starts.
 */
@Global()
@Module({})
export class ApiKeysModule implements OnModuleInit {
  static forRoot(registry: ApiKeyRegistry): DynamicModule {
    return { module: ApiKeysModule, providers: [{ provide: ApiKeyRegistry, useValue: registry }], exports: [ApiKeyRegistry] };
  }

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
