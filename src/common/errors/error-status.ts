import { HttpStatus } from '@nestjs/common';
import * as errors from './domain.errors';

/** The names of the concrete domain error classes domain.errors.ts exports. */
type DomainErrorName = Exclude<
  { [K in keyof typeof errors]: (typeof errors)[K] extends abstract new (...args: never[]) => errors.DomainError ? K : never }[keyof typeof errors],
  'DomainError'
>;

/**
 * The HTTP status of every domain error, in one table the compiler checks: a new class exported from
 * domain.errors.ts that is missing here is a type error, so no domain error can silently become a 500.
 * (Domain errors themselves carry no HTTP knowledge; the exception filter reads this table.)
 */
export const DOMAIN_ERROR_STATUS: Readonly<Record<DomainErrorName, HttpStatus>> = {
  InvalidRequestError: HttpStatus.BAD_REQUEST,
  KeyNotFoundError: HttpStatus.NOT_FOUND,
  KeyExistsError: HttpStatus.CONFLICT,
  RevisionMismatchError: HttpStatus.PRECONDITION_FAILED,
  PreconditionFailedError: HttpStatus.PRECONDITION_FAILED,
  ValueTooLargeError: HttpStatus.PAYLOAD_TOO_LARGE,
  CapacityExceededError: HttpStatus.SERVICE_UNAVAILABLE,
  LimitReachedError: HttpStatus.CONFLICT,
  SubscriptionNotFoundError: HttpStatus.NOT_FOUND,
  StoreFullError: HttpStatus.INSUFFICIENT_STORAGE,
  StoreUnavailableError: HttpStatus.SERVICE_UNAVAILABLE,
  WriteOutcomeUnknownError: HttpStatus.GATEWAY_TIMEOUT,
  UnauthenticatedError: HttpStatus.UNAUTHORIZED,
  ForbiddenError: HttpStatus.FORBIDDEN,
  ClientLimitError: HttpStatus.TOO_MANY_REQUESTS,
};

const byClass = new Map<unknown, HttpStatus>(Object.entries(DOMAIN_ERROR_STATUS).map(([name, status]) => [errors[name as DomainErrorName], status]));

/** The status of a domain error: its own class's, or the nearest listed ancestor's (a subclass answers like its parent). */
export function statusOf(error: errors.DomainError): HttpStatus {
  for (let type: unknown = error.constructor; type && type !== errors.DomainError; type = Object.getPrototypeOf(type)) {
    const status = byClass.get(type);
    if (status !== undefined) return status;
  }
  // Unreachable while the table is complete (the compiler checks it); a 500 is the honest answer if not.
  return HttpStatus.INTERNAL_SERVER_ERROR;
}
