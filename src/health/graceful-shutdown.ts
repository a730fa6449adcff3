import type { INestApplication, LoggerService } from '@nestjs/common';
import type { Server } from 'node:http';
import { LifecycleService } from './lifecycle.service';

export interface GracefulShutdownOptions {
  /** How long to keep serving after the signal while readiness fails (SHUTDOWN_DELAY_MS). */
  readonly delayMs: number;
  /** How long in-flight requests may take after that (SHUTDOWN_TIMEOUT_MS). */
  readonly timeoutMs: number;
}

/**
 * Handles SIGTERM/SIGINT the way a rolling update needs, and makes sure nothing dies silently:
 * 1. readiness fails at once (the load balancer stops sending new traffic);
 * 2. the server keeps serving for `delayMs` while that propagates, answering with `Connection: close`;
 * 3. then app.close(): watch streams end with `retry:` (beforeApplicationShutdown), the HTTP server stops
 *    accepting and closes idle connections, in-flight requests finish (at most `timeoutMs`, after which
 *    their connections are cut), and last the store closes (onApplicationShutdown);
 * 4. the process exits 0.
 * An unhandled rejection is logged and fails readiness (the state is unknown); an uncaught exception is
 * logged and shuts down the same way, exiting 1.
 */
export function installGracefulShutdown(app: INestApplication, options: GracefulShutdownOptions, logger: LoggerService): void {
  const lifecycle = app.get(LifecycleService);
  let shuttingDown = false;

  const shutdown = async (reason: string, exitCode: number): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    lifecycle.startDraining();
    logger.log(`${reason}: draining; readiness fails now, serving ${options.delayMs} ms more`, 'Shutdown');
    await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    const server = app.getHttpServer() as Server;
    const force = setTimeout(() => {
      logger.warn(`requests still running after SHUTDOWN_TIMEOUT_MS=${options.timeoutMs}: closing their connections`, 'Shutdown');
      server.closeAllConnections();
    }, options.timeoutMs);
    try {
      await app.close();
      logger.log('shutdown complete', 'Shutdown');
    } catch (error) {
      logger.error(`shutdown failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, undefined, 'Shutdown');
      exitCode = 1;
    } finally {
      clearTimeout(force);
    }
    process.exit(exitCode);
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(signal, 0));
  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled promise rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`, undefined, 'Process');
    lifecycle.markFaulty('an unhandled promise rejection left the process state unknown');
  });
  process.on('uncaughtException', (error) => {
    logger.error(`uncaught exception: ${error.stack ?? error.message}`, undefined, 'Process');
    lifecycle.markFaulty('an uncaught exception left the process state unknown');
    void shutdown('uncaught exception', 1);
  });
}
