/** Exit codes of the kv client: part of its contract with scripts, so they never change meaning. */
export const EXIT_OK = 0;
/**
 * The answer a script branches on, and only that: the key (or subscription) is not there, or, for `set --nx`, is
 * there already. Each command says which answers these are (kv-store's 404 or 409 to that request).
 */
export const EXIT_NOT_FOUND = 1;
/** Usage error, server unreachable, no kv-store at the URL, refused credentials, or anything else that went wrong. */
export const EXIT_ERROR = 2;
/**
 * A write whose outcome is unknown (kv-store's 504): it may or may not have been applied. Read the key before trying
 * again: retrying blindly could apply it twice, or (with --nx) fail against the write itself.
 */
export const EXIT_UNKNOWN = 3;

/** A failure the client reports as one line on stderr (never a stack trace) and turns into an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server answered with an error status; `message` is the server's own (with a hint for 401 and 403). */
export class HttpError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    exitCode: number = EXIT_ERROR,
    /** From a `Retry-After` header (429, 503), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message, exitCode);
  }
}

/**
 * What answered is not kv-store, or not at this URL: another service, a proxy's page, a redirect, or kv-store without
 * the route asked for (a wrong path in the URL). Never exit code 1, whatever the status: it says nothing about a key.
 */
export class NotKvStoreError extends HttpError {}
