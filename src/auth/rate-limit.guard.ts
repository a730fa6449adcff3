import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';

/**
 * @nestjs/throttler's guard, skipped outright while RATE_LIMIT is 0 (the default): the stock guard would still
 * look up its per-route metadata on every request (measured on the hot path by `npm run bench`) only to find the
 * limit off.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private off?: boolean;

  protected override shouldSkip(): Promise<boolean> {
    this.off ??= this.throttlers.every((throttler) => throttler.limit === 0);
    return Promise.resolve(this.off);
  }
}
