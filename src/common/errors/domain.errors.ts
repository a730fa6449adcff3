/**
 * Errors the store and services throw. They carry no HTTP knowledge: each class's status is in one table
 * (error-status.ts, checked by the compiler), which the global exception filter answers by.
 */
export abstract class DomainError extends Error {
  /** Optional machine-readable items, surfaced as `details` in the JSON error body. */
  readonly details?: readonly unknown[];

  constructor(message: string, details?: readonly unknown[]) {
    super(message);
    this.name = new.target.name;
    if (details && details.length > 0) this.details = details;
  }
}

/** The request is well-formed HTTP but its content breaks a rule (bad key, bad option, bad body). */
export class InvalidRequestError extends DomainError {}

/** One or more keys do not exist (or have expired). */
export class KeyNotFoundError extends DomainError {
  constructor(readonly keys: readonly string[]) {
    super('Key not found', keys.length > 1 ? keys : undefined);
  }
}

/** A create-only write (`nx`) found keys that already exist; nothing was written. */
export class KeyExistsError extends DomainError {
  constructor(readonly keys: readonly string[]) {
    super(keys.length === 1 ? 'Key already exists' : `${keys.length} keys already exist`, keys);
  }
}

/** A compare-and-set write found a different revision than the caller expected; nothing was written. */
export class RevisionMismatchError extends DomainError {
  constructor(
    readonly key: string,
    readonly currentRevision: number | null,
  ) {
    super(
      currentRevision === null
        ? 'Precondition failed: the key does not exist'
        : `Precondition failed: the key is at revision ${currentRevision}`,
    );
  }
}

/** An HTTP conditional request (If-Match / If-None-Match) did not hold; nothing was written. */
export class PreconditionFailedError extends DomainError {}

/** A value's JSON encoding exceeds the configured limit. */
export class ValueTooLargeError extends DomainError {
  constructor(
    readonly key: string,
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super(
      `Value for key ${JSON.stringify(key)} is ${sizeBytes} bytes of JSON; the limit is KV_MAX_VALUE_BYTES=${limitBytes}`,
    );
  }
}

/** A capacity limit is reached for now (concurrent watch streams); the client should retry later. */
export class CapacityExceededError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A configured count limit is reached (webhook subscriptions); nothing was created. */
export class LimitReachedError extends DomainError {}

/** No subscription has this id. */
export class SubscriptionNotFoundError extends DomainError {
  constructor(readonly id: string) {
    super('Subscription not found');
  }
}

/** The store holds as many bytes as it may (KV_MAX_STORE_BYTES, or Redis's maxmemory); nothing was written. */
export class StoreFullError extends DomainError {}

/**
 * A write was sent to the store but its outcome is unknown: the store did not answer in time, the connection
 * dropped after the write went out, or fewer replicas than asked confirmed it. It may or may not have been applied:
 * the client should read before it retries.
 */
export class WriteOutcomeUnknownError extends DomainError {
  constructor(readonly reason: string) {
    super(`The write may have been applied: the store did not confirm it (${reason}); read the key to find out before retrying`);
  }
}

/** The store cannot be reached (or did not answer in time); the request may be retried. Nothing was written. */
export class StoreUnavailableError extends DomainError {
  constructor(readonly reason: string) {
    super('store unavailable');
  }
}

/** No API key, an unusable one, or an unknown one. */
export class UnauthenticatedError extends DomainError {
  constructor(
    message: string,
    /** A key was presented but is not valid (RFC 6750 `invalid_token`), as opposed to none at all. */
    readonly invalidCredential: boolean,
  ) {
    super(message);
  }
}

/** The API key is valid but its role does not cover the operation. */
export class ForbiddenError extends DomainError {}

/** A client holds as many of something (watch streams) as it may; it should retry after releasing one. */
export class ClientLimitError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
