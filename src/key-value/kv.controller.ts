import { type ArgumentMetadata, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExtraModels, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { setNextLink } from '../common/http/pagination';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { KvValidationPipe } from '../common/validation/kv-validation.pipe';
import { PairDto, SetResponseDto } from './dto/seed-responses.dto';
import { SetQueryDto } from './dto/set-query.dto';
import { KeyValueService } from './key-value.service';
import { ApiSetPairs, ApiGetValue, ApiGetAll } from './kv.docs';

export const SEED_TAG = 'seed-compatible';

/** What the global pipe is told about `@Query() query: SetQueryDto`. */
const SET_QUERY: ArgumentMetadata = { type: 'query', metatype: SetQueryDto };

/**
 * The routes of the services kv-store replaces, with their exact request and response shapes, so
 * existing clients and scripts keep working unchanged.
 */
@ApiTags(SEED_TAG)
@ApiExtraModels(PairDto)
@ApiKeyAuth()
@Controller()
export class KvController {
  constructor(
    private readonly kv: KeyValueService,
    private readonly validation: KvValidationPipe,
  ) {}

  // The two hot paths take the request itself, a kind of parameter Nest hands over without running pipes: for each
  // parameter a pipe runs on, Nest chains four async functions and a Promise.all, even when the pipe answers at once.
  // Without that chain, a paired run measured 6-11% more GETs and 0-7% more POSTs per second (docs/benchmarks.md).
  // The body goes to the service as it is (the global pipe left an `unknown` body alone too), the query through the
  // same pipe instance, called here.
  @Post('set')
  @HttpCode(200)
  @ApiSetPairs()
  @ApiQuery({ type: SetQueryDto })
  async set(@Req() req: Request): Promise<SetResponseDto> {
    const query = (await this.validation.transform(req.query, SET_QUERY)) as SetQueryDto;
    const { single, count } = await this.kv.setPairs(req.body, query);
    return single
      ? { status: 'success', message: 'key-value pair is set successfully' }
      : { status: 'success', message: 'key-value pairs are set successfully', count };
  }

  @Get('get/:key')
  @ApiGetValue()
  async get(@Req() req: Request<{ key: string }>): Promise<PairDto> {
    const { key } = req.params;
    return { key, value: await this.kv.value(key) };
  }

  @Get()
  @ApiGetAll()
  async all(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    const page = await this.kv.list(query);
    setNextLink(req, res, page.next);
    res.type('application/json');
    // Serialised by hand: a JS object would move integer-like keys ("2", "10") to the front and give a
    // key named "__proto__" special treatment; this keeps code-point order and treats every key as data.
    return `{${page.items.map((r) => `${JSON.stringify(r.key)}:${JSON.stringify(r.value)}`).join(',')}}`;
  }
}
