import { applyDecorators, SetMetadata } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import { ApiBearerAuth, ApiForbiddenResponse, ApiSecurity, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import type { Role } from './api-keys';

export const PUBLIC_ROUTE = 'kv:public';
export const REQUIRED_ROLE = 'kv:role';

/** Security scheme names in the OpenAPI document. */
export const BEARER_SCHEME = 'bearer';
export const API_KEY_SCHEME = 'api-key';

/** Open without an API key and never rate-limited: probes and scrapers must always get through. */
export const Public = (): MethodDecorator & ClassDecorator => applyDecorators(SetMetadata(PUBLIC_ROUTE, true), SkipThrottle());

/**
 * Routes behind API keys: documents both ways of sending one and the 401/403/429 answers. `role` is what the
 * routes need; without it, reads (GET, HEAD) need `read` and everything else `write`.
 */
export function ApiKeyAuth(role?: Role): ClassDecorator & MethodDecorator {
  return applyDecorators(
    ...(role ? [SetMetadata(REQUIRED_ROLE, role)] : []),
    ApiBearerAuth(BEARER_SCHEME),
    ApiSecurity(API_KEY_SCHEME),
    ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No API key, or an unknown one (when keys are configured).' }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: `The API key's role does not cover this${role ? ` (needs ${role})` : ''}.` }),
    ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'RATE_LIMIT exceeded (with Retry-After).' }),
  );
}
