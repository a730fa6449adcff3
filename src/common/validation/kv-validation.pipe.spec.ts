import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { KvValidationPipe } from './kv-validation.pipe';

class Options {
  @Transform(({ value }: { value: unknown }) => (value === undefined ? undefined : Number(value)))
  @IsOptional()
  @IsInt()
  @Min(1)
  ttl?: number;

  @IsOptional()
  @IsBoolean()
  flag?: boolean;

  @IsInt()
  limit = 100;
}

class Required {
  @IsString()
  name!: string;
}

const pipe = new KvValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
const query = (metatype: new () => object) => ({ type: 'query' as const, metatype });

describe('KvValidationPipe', () => {
  it('answers an empty query with a fresh DTO instance each time, equal to what the full pipe builds', async () => {
    const first = await pipe.transform({}, query(Options));
    const second = await pipe.transform(Object.create(null) as object, query(Options));
    expect(first).toBeInstanceOf(Options);
    expect(second).toBeInstanceOf(Options);
    expect(second).not.toBe(first);
    expect({ ...(second as object) }).toEqual({ ...(first as object) });
    expect((second as Options).limit).toBe(100);
    // A handler that changes its instance does not change the next request's.
    (second as Options).limit = 5;
    expect(((await pipe.transform({}, query(Options))) as Options).limit).toBe(100);
  });

  it('still validates and transforms non-empty input in full', async () => {
    expect(await pipe.transform({ ttl: '5' }, query(Options))).toMatchObject({ ttl: 5, limit: 100 });
    await expect(pipe.transform({ ttl: '0' }, query(Options))).rejects.toThrow();
    await expect(pipe.transform({ unknown: '1' }, query(Options))).rejects.toThrow();
    // And an empty query afterwards is still the plain default.
    expect({ ...((await pipe.transform({}, query(Options))) as object) }).toEqual({ ...new Options(), ttl: undefined });
  });

  it('never remembers an empty input that fails validation', async () => {
    await expect(pipe.transform({}, query(Required))).rejects.toThrow();
    await expect(pipe.transform({}, query(Required))).rejects.toThrow();
    expect(await pipe.transform({ name: 'x' }, query(Required))).toEqual(Object.assign(new Required(), { name: 'x' }));
  });

  it('answers parameters without a DTO class at once, as the stock pipe would, and empty DTOs it knows too', async () => {
    // Still a ValidationPipe: Nest finds validation pipes by class to warn when parameter types are missing.
    expect(pipe).toBeInstanceOf(ValidationPipe);
    const stock = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
    const plain = new KvValidationPipe({ whitelist: true });
    const body = { a: 1 };
    const cases: [unknown, ArgumentMetadata][] = [
      ['key-1', { type: 'param', metatype: String, data: 'key' }],
      ['5', { type: 'param', metatype: Number, data: 'n' }],
      ['true', { type: 'query', metatype: Boolean, data: 'flag' }],
      [body, { type: 'body', metatype: Object }],
      [body, { type: 'body' }],
      [undefined, { type: 'custom', metatype: Array }],
    ];
    for (const [value, metadata] of cases) {
      const answer = pipe.transform(value, metadata);
      expect(answer).not.toBeInstanceOf(Promise);
      expect(answer).toEqual(await stock.transform(value, metadata));
      expect(plain.transform(value, metadata)).toBe(value);
    }
    await pipe.transform({}, query(Options));
    expect(pipe.transform({}, query(Options))).toBeInstanceOf(Options);
    // A pipe told the type to expect validates against it, whatever the parameter says.
    const expecting = new KvValidationPipe({ expectedType: Required });
    await expect(expecting.transform({}, { type: 'body', metatype: Object }) as Promise<unknown>).rejects.toThrow();
  });

  it('passes primitives and untyped parameters through as the stock pipe does', async () => {
    expect(await pipe.transform('key-1', { type: 'param', metatype: String, data: 'key' })).toBe('key-1');
    const body = {};
    expect(await pipe.transform(body, { type: 'body', metatype: Object })).toBe(body);
  });
});
