import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../src/app.module';
import { loadApiKeys } from '../../src/auth/api-keys';
import { configureApp } from '../../src/app.setup';
import { KvExpressAdapter } from '../../src/common/http/kv-express.adapter';
import { validateEnvironment } from '../../src/config/env.validation';

export interface TestApp {
  readonly app: NestExpressApplication;
  /** Base URL of the real HTTP server, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Boots the real application (same modules, same setup as main.ts) on an ephemeral 127.0.0.1 port,
 * configured only from `env`: nothing from the machine's environment leaks in.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  customize: (builder: TestingModuleBuilder) => TestingModuleBuilder = (b) => b,
): Promise<TestApp> {
  // The same steps as main.ts: settings and API keys validated once, the same adapter.
  const settings = validateEnvironment({ LOG_LEVEL: 'silent', ...env });
  const apiKeys = loadApiKeys(settings.API_KEYS, settings.API_KEYS_FILE);
  const moduleRef = await customize(Test.createTestingModule({ imports: [AppModule.forRoot({ settings, apiKeys })] })).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>(new KvExpressAdapter(settings), { bodyParser: false, logger: false });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
