import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { LifecycleService } from './lifecycle.service';
import { StoreHealthIndicator } from './store-health.indicator';

/** Liveness and readiness probes, and the process lifecycle state they report (global: main.ts drives it). */
@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [LifecycleService, StoreHealthIndicator],
  exports: [LifecycleService],
})
export class HealthModule {}
