import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * Errors that exist only on the wire: they are about the HTTP request itself, never about the store or the API's
 * rules, so they are HTTP exceptions of this layer rather than domain errors.
 */

/** The request URL exceeds HTTP_MAX_URL_BYTES. */
export class UriTooLongException extends HttpException {
  constructor(message: string) {
    super(message, HttpStatus.URI_TOO_LONG);
  }
}
