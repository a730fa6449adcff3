import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger, MethodNotAllowedException, NotFoundException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import type { ErrorResponseDto } from '../dto/error-response.dto';
import { requestIdOf } from '../logging/logger.options';
import { CapacityExceededError, ClientLimitError, DomainError, InvalidRequestError, UnauthenticatedError } from '../errors/domain.errors';
import { RouteTable } from '../http/route-table';
import { statusOf } from '../errors/error-status';
import { errorResponse } from '../http/error-body';

/** body-parser (http-errors) failures that Nest wraps into an HttpException, recognised by `type`. */
interface BodyParserError {
  type?: string;
  message?: string;
}

/**
 * The single place where errors become HTTP answers. Every answer is the JSON error shape; anything not
 * recognised is a bug, logged with its stack and answered with a generic 500 that leaks nothing.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger(AllExceptionsFilter.name);
  private readonly maxBodyBytes: number;

  constructor(
    config: AppConfig,
    private readonly routes: RouteTable,
  ) {
    this.maxBodyBytes = config.getOrThrow('KV_MAX_BODY_BYTES', { infer: true });
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    if (isUnrouted(exception)) exception = this.unrouted(req, res, exception);
    const body = this.toBody(exception, req);
    if ((exception instanceof CapacityExceededError || exception instanceof ClientLimitError) && !res.headersSent) {
      res.setHeader('Retry-After', String(exception.retryAfterSeconds));
    }
    if (exception instanceof UnauthenticatedError && !res.headersSent) {
      res.setHeader('WWW-Authenticate', `Bearer realm="kv-store"${exception.invalidCredential ? ', error="invalid_token"' : ''}`);
    }
    if (res.headersSent) {
      // A streaming response failed midway: the status line is gone, all that is left is to stop.
      res.end();
      return;
    }
    res.status(body.statusCode).json(body);
  }

  /**
   * A request no route took: a known path asked with a method it does not serve is a 405 with `Allow`; a path
   * that only lacks its key (`/get/`, `PUT /keys/`) is an empty key; anything else stays a 404.
   */
  private unrouted(req: Request, res: Response, notFound: NotFoundException): unknown {
    const path = req.path;
    if (path.endsWith('/') && this.routes.methodsAt(`${path}k`).includes(req.method)) {
      return new InvalidRequestError(`Key must not be empty: ${req.method} ${path}{key}`);
    }
    const allowed = this.routes.methodsAt(path);
    if (allowed.length === 0) return notFound;
    res.setHeader('Allow', allowed.join(', '));
    return new MethodNotAllowedException(`${req.method} is not allowed on ${path}: it takes ${allowed.join(', ')}`);
  }

  private toBody(exception: unknown, req: Request): ErrorResponseDto {
    if (exception instanceof DomainError) {
      return errorResponse(statusOf(exception), exception.message, exception.details && { details: [...exception.details] });
    }
    if (exception instanceof HttpException) return this.fromHttpException(exception);
    // With the request it failed, so the line can be matched with the request's own line and the client's report.
    this.logger.error({
      req: { id: requestIdOf(req), method: req.method, url: req.originalUrl },
      msg: exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
    });
    return errorResponse(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error');
  }

  private fromHttpException(exception: HttpException): ErrorResponseDto {
    const statusCode = exception.getStatus();
    const cause = exception.cause as BodyParserError | undefined;
    if (cause?.type === 'entity.too.large') {
      return errorResponse(statusCode, `Request body exceeds KV_MAX_BODY_BYTES=${this.maxBodyBytes} bytes`);
    }
    if (cause?.type === 'entity.parse.failed') {
      return errorResponse(statusCode, `Malformed JSON body: ${cause.message}`);
    }
    if (cause?.type === 'entity.verify.failed') return errorResponse(statusCode, cause.message ?? 'Invalid body');
    const response = exception.getResponse();
    if (isHealthCheckFailure(response)) {
      // Keep terminus' own report (info, error), inside our error shape.
      const down = Object.keys(response.error).join(', ');
      return errorResponse(statusCode, `Not ready: ${down}`, { info: response.info, error: response.error });
    }
    const message = typeof response === 'object' && response !== null && 'message' in response ? response.message : response;
    if (Array.isArray(message)) {
      return errorResponse(statusCode, message.join('; '), { details: message });
    }
    return errorResponse(statusCode, String(message));
  }
}

/** Nest's answer to a request no route matched ("Cannot GET /x"). */
function isUnrouted(exception: unknown): exception is NotFoundException {
  return exception instanceof NotFoundException && /^Cannot [A-Z]+ /.test(exception.message);
}

/** The body terminus throws with when a health check fails. */
function isHealthCheckFailure(response: unknown): response is { info: object; error: Record<string, unknown> } {
  return typeof response === 'object' && response !== null && 'error' in response && 'info' in response && 'details' in response;
}
