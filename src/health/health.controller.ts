import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/auth.decorators';
import { LifecycleService } from './lifecycle.service';
import { StoreHealthIndicator } from './store-health.indicator';
import { ApiLiveness, ApiReadiness, ApiHealth } from './health.docs';

export const HEALTH_TAG = 'health';

/** Kubernetes-style probes. Never authenticated, never rate-limited, logged at debug level only. */
@ApiTags(HEALTH_TAG)
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StoreHealthIndicator,
    private readonly lifecycle: LifecycleService,
  ) {}

  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiLiveness()
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up()]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiReadiness()
  ready(): Promise<HealthCheckResult> {
    return this.readiness();
  }

  @Get()
  @HealthCheck({ swaggerDocumentation: false })
  @ApiHealth()
  check(): Promise<HealthCheckResult> {
    return this.readiness();
  }

  private readiness(): Promise<HealthCheckResult> {
    return this.health.check([
      () => {
        const reason = this.lifecycle.notReadyReason();
        const indicator = this.indicators.check('lifecycle');
        return reason === null ? indicator.up() : indicator.down({ message: reason });
      },
      () => this.store.check(),
    ]);
  }
}
