import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { loadApiKeys } from './auth/api-keys';
import { KvExpressAdapter } from './common/http/kv-express.adapter';
import { installGracefulShutdown } from './health/graceful-shutdown';
import { ConfigValidationError, type EnvironmentVariables, validateEnvironment } from './config/env.validation';
import { formatBytes, memoryBudget } from './config/memory-budget';
import { SnapshotError } from './store/memory/memory-snapshot';

async function bootstrap(): Promise<void> {
  // The only place that reads the process environment. Validated here first (API keys too) so that a bad
  // setting stops the start with one line, before Nest logs anything.
  const settings = validateEnvironment(process.env);
  const apiKeys = loadApiKeys(settings.API_KEYS, settings.API_KEYS_FILE);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ settings, apiKeys }), new KvExpressAdapter(settings), {
    bodyParser: false,
    // Held back until the JSON logger is attached, so start-up logs are structured too.
    bufferLogs: true,
    // Reject instead of exiting inside Nest, so the handler below decides what a failed start prints.
    abortOnError: false,
  });
  configureApp(app);
  installGracefulShutdown(app, { delayMs: settings.SHUTDOWN_DELAY_MS, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS }, new Logger('Shutdown'));
  await app.listen(settings.PORT, settings.HOST);
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  const logger = new Logger('Bootstrap');
  logger.log(`Listening on http://${address.includes(':') ? `[${address}]` : address}:${port} (store: ${settings.STORE_DRIVER})`);
  reportMemoryBudget(settings, logger);
}

/**
 * States what the settings let clients make this process hold, at worst (docs: Memory budget), and warns when that
 * is more than the container may use (cgroup v2 memory.max), which would end in an out-of-memory kill, not a 507.
 */
function reportMemoryBudget(settings: EnvironmentVariables, logger: Logger): void {
  const budget = memoryBudget(settings);
  const terms = budget.terms.filter((t) => t.bytes > 0).map((t) => `${t.name} ${formatBytes(t.bytes)}`).join(' + ');
  let limit = Number.NaN;
  try {
    limit = Number(readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim());
  } catch {
    // Not in a cgroup v2 container: no limit to compare with.
  }
  const line = `memory budget at worst: ${formatBytes(budget.total)} (${terms})`;
  if (Number.isFinite(limit) && budget.total > limit) {
    logger.warn(`${line} is more than the container's memory limit of ${formatBytes(limit)}: lower the settings named in the docs' Memory budget`);
  } else {
    logger.log(line);
  }
}

/** One line for a port the server cannot take (in use, or privileged), or null for any other error. */
function listenProblem(error: unknown): string | null {
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = `${address ?? ''}:${port ?? ''}`;
  if (code === 'EADDRINUSE') return `Cannot listen on ${where}: the port is in use by another process (set PORT to a free one)`;
  if (code === 'EACCES') return `Cannot listen on ${where}: permission denied (ports below 1024 need privileges; set PORT to 1024 or above)`;
  if (code === 'EADDRNOTAVAIL') return `Cannot listen on ${where}: no such address on this machine (set HOST)`;
  return null;
}

bootstrap().catch((error: unknown) => {
  // A bad setting, an unusable snapshot or a port that cannot be taken gets one clear line; anything else is a
  // bug and keeps its stack.
  if (error instanceof ConfigValidationError || error instanceof SnapshotError) console.error(error.message);
  else console.error(listenProblem(error) ?? error);
  process.exit(1);
});
