import { Injectable } from '@nestjs/common';

/**
 * Whether this process should receive traffic. Draining starts at SIGTERM/SIGINT (readiness fails at
 * once, while requests are still served); a fault is recorded when something went wrong that leaves the
 * process's state unknown (an unhandled rejection), so the orchestrator stops routing to it.
 */
@Injectable()
export class LifecycleService {
  private drainingSince: Date | null = null;
  private faultReason: string | null = null;

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  startDraining(): void {
    this.drainingSince ??= new Date();
  }

  markFaulty(reason: string): void {
    this.faultReason ??= reason;
  }

  /** Why the process is not ready, or null when it is (store health aside). */
  notReadyReason(): string | null {
    if (this.drainingSince) return `shutting down since ${this.drainingSince.toISOString()}`;
    return this.faultReason;
  }
}
