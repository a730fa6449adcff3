import { Module } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { KvValidationPipe } from './kv-validation.pipe';
import { toInvalidRequest } from './validation-error';

/**
 * The one validation pipe of the application, configured once: Nest runs it on every `@Body()`, `@Query()` and
 * `@Param()` (APP_PIPE), and a route that reads its parameters from the request itself (the seed hot paths: see
 * KvController) injects the same instance to validate its DTOs with the same options and the same 400 answers.
 */
@Module({
  providers: [
    {
      provide: KvValidationPipe,
      useValue: new KvValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, exceptionFactory: toInvalidRequest }),
    },
    { provide: APP_PIPE, useExisting: KvValidationPipe },
  ],
  exports: [KvValidationPipe],
})
export class ValidationModule {}
