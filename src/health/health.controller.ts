import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/auth.decorators';
import { LifecycleService } from './lifecycle.service';
import { StoreHealthIndicator } from './store-health.indicator';

export const HEALTH_TAG = 'health';

const READY_EXAMPLE = {
  status: 'ok',
  info: { lifecycle: { status: 'up' }, store: { driver: 'memory', status: 'up' } },
  error: {},
  details: { lifecycle: { status: 'up' }, store: { driver: 'memory', status: 'up' } },
};

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
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is serving (no store call)' })
  @ApiOkResponse({ description: 'Alive.', schema: { example: { status: 'ok', info: { process: { status: 'up' } }, error: {}, details: { process: { status: 'up' } } } } })
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up()]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: the store answers and the process is not shutting down' })
  @ApiOkResponse({ description: 'Ready for traffic.', schema: { example: READY_EXAMPLE } })
  @ApiServiceUnavailableResponse({ description: 'Not ready: draining after SIGTERM, a fault, or the store does not answer in time.' })
  ready(): Promise<HealthCheckResult> {
    return this.readiness();
  }

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'Same as /health/ready' })
  @ApiOkResponse({ description: 'Ready for traffic.', schema: { example: READY_EXAMPLE } })
  @ApiServiceUnavailableResponse({ description: 'Not ready.' })
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
