import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ForbiddenError, UnauthenticatedError } from '../common/errors/domain.errors';
import { ApiKeyRegistry, type Role, roleAllows } from './api-keys';
import { PUBLIC_ROUTE, REQUIRED_ROLE } from './auth.decorators';
import { clientOf, credentialOf } from './client-identity';

const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * Lets a request through when its API key's role covers the route: 401 without a (known) key, 403 when the role
 * is too weak. Routes marked @Public() and every route while no keys are configured are open.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly registry: ApiKeyRegistry,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.registry.open || this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const credential = credentialOf(req);
    if (credential === null) throw new UnauthenticatedError('An API key is required: send Authorization: Bearer <key> or X-API-Key: <key>', false);
    if (credential === undefined) throw new UnauthenticatedError('Malformed credentials: send Authorization: Bearer <key> or X-API-Key: <key>', true);
    const { principal } = clientOf(req, this.registry);
    if (!principal) throw new UnauthenticatedError('Unknown API key', true);
    const required = this.reflector.getAllAndOverride<Role>(REQUIRED_ROLE, targets) ?? (READ_METHODS.has(req.method) ? 'read' : 'write');
    if (!roleAllows(principal.role, required)) {
      throw new ForbiddenError(`This API key has the ${principal.role} role; this needs ${required}`);
    }
    return true;
  }
}
