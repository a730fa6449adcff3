import { applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse } from '@nestjs/swagger';

const READY_EXAMPLE = {
  status: 'ok',
  info: { lifecycle: { status: 'up' }, store: { driver: 'memory', keyspace: '5f0c2a9be41d', status: 'up' } },
  error: {},
  details: { lifecycle: { status: 'up' }, store: { driver: 'memory', keyspace: '5f0c2a9be41d', status: 'up' } },
};

/** What a failed readiness check answers (the exception filter keeps terminus' report inside the error shape). */
const NOT_READY_EXAMPLE = {
  status: 'error',
  statusCode: 503,
  message: 'Not ready: store',
  info: { lifecycle: { status: 'up' } },
  error: { store: { driver: 'redis', status: 'down', message: 'store unavailable' } },
};

export const ApiLiveness = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Liveness: the process is serving (no store call)' }),
    ApiOkResponse({ description: 'Alive.', schema: { example: { status: 'ok', info: { process: { status: 'up' } }, error: {}, details: { process: { status: 'up' } } } } }),
  );

export const ApiReadiness = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Readiness: the store answers and the process is not shutting down' }),
    ApiOkResponse({ description: 'Ready for traffic.', schema: { example: READY_EXAMPLE } }),
    ApiServiceUnavailableResponse({
      description: 'Not ready: draining after SIGTERM, a fault, or the store does not answer in time.',
      schema: { example: NOT_READY_EXAMPLE },
    }),
  );

export const ApiHealth = (): MethodDecorator =>
  applyDecorators(
    ApiOperation({ summary: 'Same as /health/ready' }),
    ApiOkResponse({ description: 'Ready for traffic.', schema: { example: READY_EXAMPLE } }),
    ApiServiceUnavailableResponse({ description: 'Not ready.', schema: { example: NOT_READY_EXAMPLE } }),
  );
