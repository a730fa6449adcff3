import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';

/**
 * The answers of every write that say what became of it when the store could not confirm it: 503 "not written"
 * (safe to retry) against 504 "unknown" (read before retrying), and 507 "full".
 */
export const ApiWriteOutcomes = (): MethodDecorator =>
  applyDecorators(
    ApiResponse({
      status: 503,
      type: ErrorResponseDto,
      description: 'The store is unavailable (`store unavailable`), or too many requests are in flight: nothing was written; retry.',
    }),
    ApiResponse({
      status: 504,
      type: ErrorResponseDto,
      description: 'The outcome is unknown: the write went to the store, which did not confirm it in time. It may have been applied: read the key before retrying.',
    }),
    ApiResponse({ status: 507, type: ErrorResponseDto, description: 'The store is full (KV_MAX_STORE_BYTES, or Redis maxmemory): nothing was written.' }),
  );
