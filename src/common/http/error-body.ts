import type { ErrorResponseDto } from '../dto/error-response.dto';

/**
 * The JSON error body, `{"status":"error","statusCode":N,"message":"..."}` plus optional fields (`details`, or
 * terminus' `info` / `error` on readiness): the one place it is built, for the exception filter and for the
 * answers written outside the application (malformed HTTP, request deadlines).
 */
export function errorResponse(statusCode: number, message: string, extra: Omit<Partial<ErrorResponseDto>, 'status' | 'statusCode' | 'message'> & Record<string, unknown> = {}): ErrorResponseDto {
  return { status: 'error', statusCode, message, ...extra };
}

/** The same body as text, for answers written on a raw response or socket. */
export function errorJson(statusCode: number, message: string): string {
  return JSON.stringify(errorResponse(statusCode, message));
}
