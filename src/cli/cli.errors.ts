/** Exit codes of the kv client: part of its contract with scripts, so they never change meaning. */
export const EXIT_OK = 0;
/** The key (or subscription) is absent, already exists, or a precondition failed: HTTP 404, 409, 412. */
export const EXIT_NOT_FOUND = 1;
/** Usage error, server unreachable, refused credentials, or anything else that went wrong. */
export const EXIT_ERROR = 2;

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

/** The server answered with an error status; `message` is the server's own. */
export class HttpError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    /** From a `Retry-After` header (429, 503), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message, exitCodeOfStatus(status));
  }
}

/**
 * 404, 409 and 412 are answers about the data ("not there", "already there", "changed meanwhile") that a
 * script branches on; every other status means the request itself could not be served.
 */
export function exitCodeOfStatus(status: number): number {
  return status === 404 || status === 409 || status === 412 ? EXIT_NOT_FOUND : EXIT_ERROR;
}
