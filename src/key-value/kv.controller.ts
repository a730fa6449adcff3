import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExtraModels, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { setNextLink } from '../common/http/pagination';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { PairDto, SetResponseDto } from './dto/seed-responses.dto';
import { SetQueryDto } from './dto/set-query.dto';
import { KeyValueService } from './key-value.service';
import { ApiSetPairs, ApiGetValue, ApiGetAll } from './kv.docs';

export const SEED_TAG = 'seed-compatible';

/**
 * The routes of the services kv-store replaces, with their exact request and response shapes, so
 * existing clients and scripts keep working unchanged.
 */
@ApiTags(SEED_TAG)
@ApiExtraModels(PairDto)
@ApiKeyAuth()
@Controller()
export class KvController {
  constructor(private readonly kv: KeyValueService) {}

  @Post('set')
  @HttpCode(200)
  @ApiSetPairs()
  async set(@Body() body: unknown, @Query() query: SetQueryDto): Promise<SetResponseDto> {
    const { single, count } = await this.kv.setPairs(body, query);
    return single
      ? { status: 'success', message: 'key-value pair is set successfully' }
      : { status: 'success', message: 'key-value pairs are set successfully', count };
  }

  @Get('get/:key')
  @ApiGetValue()
  async get(@Param('key') key: string): Promise<PairDto> {
    const record = await this.kv.get(key);
    return { key: record.key, value: record.value };
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
