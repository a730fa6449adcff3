import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../src/app.module';
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
  const fullEnv = { LOG_LEVEL: 'silent', ...env };
  const moduleRef = await customize(Test.createTestingModule({ imports: [AppModule.forRoot({ env: fullEnv })] })).compile();
  // The same adapter as main.ts, with the server options only it can set.
  const adapter = new KvExpressAdapter(validateEnvironment(fullEnv));
  const app = moduleRef.createNestApplication<NestExpressApplication>(adapter, { bodyParser: false, logger: false });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
