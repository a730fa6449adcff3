import { HttpStatus } from '@nestjs/common';
import * as errors from './domain.errors';
import { DOMAIN_ERROR_STATUS, statusOf } from './error-status';

/** Every concrete domain error class domain.errors.ts exports, found at run time. */
const domainErrorClasses = Object.entries(errors).filter(
  ([name, value]) => name !== 'DomainError' && typeof value === 'function' && value.prototype instanceof errors.DomainError,
) as [string, abstract new (...args: never[]) => errors.DomainError][];

describe('domain error statuses', () => {
  it('finds the domain error classes', () => {
    expect(domainErrorClasses.length).toBeGreaterThanOrEqual(13);
  });

  it.each(domainErrorClasses)('%s has its own 4xx or 503 status, never a 500', (name, type) => {
    const status = statusOf(Object.create(type.prototype) as errors.DomainError);
    expect(status).toBe(DOMAIN_ERROR_STATUS[name as keyof typeof DOMAIN_ERROR_STATUS]);
    expect(status).not.toBe(HttpStatus.INTERNAL_SERVER_ERROR);
  });

  it('answers a subclass like the class it extends', () => {
    class StaleKeyError extends errors.KeyNotFoundError {}
    expect(statusOf(new StaleKeyError(['a']))).toBe(HttpStatus.NOT_FOUND);
  });
});
