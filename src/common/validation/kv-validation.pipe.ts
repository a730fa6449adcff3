import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';

/** A query string without parameters or an empty JSON object, as Express and body-parser hand them over. */
function isEmptyObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const _ in value) return false;
  return true;
}

/**
 * Nest's ValidationPipe, answering synchronously what needs no validation. Every decorated parameter of every route
 * goes through this pipe (ValidationModule), and the base class's `transform` is an async function: a parameter without
 * a DTO class (a key, the raw body) cost two promises and their ticks only to come back as it was (or as its primitive
 * type). Nest still awaits the answer; the hottest routes skip that too (KvController).
 *
 * It also remembers its answer for an empty object per DTO class. Most requests carry no query options at all, and
 * class-transformer and class-validator would otherwise rebuild and check the same empty DTO on every one of them
 * (profiled on the `POST /set` hot path of `npm run bench`). That answer depends only on the class and this pipe's
 * options, so it is safe to reuse; each request gets its own shallow copy of the instance, and a class whose empty
 * instance is invalid is never remembered (it keeps failing through the full pipe).
 */
export class KvValidationPipe extends ValidationPipe {
  private readonly emptyInstances = new WeakMap<object, object>();

  // Typed `any` as the base class's is `Promise<any>`: Nest awaits what a pipe returns, a value or a promise, and
  // the point is to return the value itself when there is nothing to validate. Still a ValidationPipe, so Nest
  // warns as it does for the stock one when parameter types are missing (a build without decorator metadata).
  override transform(value: unknown, metadata: ArgumentMetadata): any {
    const { metatype } = metadata;
    const dto = !!metatype && this.toValidate(metadata);
    // What the base class decides first, without its promise (with expectedType, every parameter is validated).
    if (!dto && this.expectedType === undefined) return this.isTransformEnabled ? this.transformPrimitive(value, metadata) : value;
    if (!dto || !isEmptyObject(value)) return super.transform(value, metadata);
    const known = this.emptyInstances.get(metatype);
    return known ? copyOf(known) : this.validateEmpty(value, metadata, metatype);
  }

  private async validateEmpty(value: object, metadata: ArgumentMetadata, metatype: object): Promise<unknown> {
    const instance = (await super.transform(value, metadata)) as unknown;
    if (typeof instance === 'object' && instance !== null) this.emptyInstances.set(metatype, copyOf(instance));
    return instance;
  }
}

const copyOf = (instance: object): object => Object.assign(Object.create(Object.getPrototypeOf(instance) as object | null) as object, instance);
