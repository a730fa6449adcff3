import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { Response } from 'express';
import { Public } from '../auth/auth.decorators';

export const METRICS_TAG = 'metrics';

/** The library's exporter, documented. Never authenticated, never rate-limited, logged at debug level only. */
@ApiTags(METRICS_TAG)
@Public()
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'Process and Node metrics, plus http_request_duration_seconds and http_requests_total {method, route, status_code} ' +
      '(route is the route template, `unmatched` for unknown paths), kv_keys, kv_watch_streams, kv_watch_overflows_total, ' +
      'kv_events_total {type}, ' +
      'kv_webhook_deliveries_total {result}, kv_store_operation_duration_seconds {operation, driver}, ' +
      'kv_keyspace_changes_total {reason}, kv_keyspace_info {keyspace}, kv_store_up (1 when the store answers a ping ' +
      'within HEALTH_STORE_TIMEOUT_MS at scrape time, else 0; kv_keys is then NaN) and kv_build_info {version, revision, ' +
      'node} (always 1).',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format.', schema: { type: 'string' } })
  override index(@Res({ passthrough: true }) response: Response): Promise<string> {
    return super.index(response);
  }
}
