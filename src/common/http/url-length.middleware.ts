import type { NextFunction, Request, Response } from 'express';
import { UriTooLongException } from './http.exceptions';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/** 414 for a request URL longer than HTTP_MAX_URL_BYTES, before anything parses it. */
export function limitUrlLength(maxBytes: number): Middleware {
  return (req, _res, next) => {
    const bytes = Buffer.byteLength(req.originalUrl);
    next(bytes > maxBytes ? new UriTooLongException(`Request URL is ${bytes} bytes; the limit is HTTP_MAX_URL_BYTES=${maxBytes}`) : undefined);
  };
}
