import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiExtraModels,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiUnsupportedMediaTypeResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { NEXT_LINK_HEADER, setNextLink } from '../common/http/pagination';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { PairDto, SetResponseDto } from './dto/seed-responses.dto';
import { SetQueryDto } from './dto/set-query.dto';
import { KeyValueService } from './key-value.service';

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
  @ApiOperation({
    summary: 'Set one pair, or many pairs atomically',
    description:
      'An object whose properties are exactly `key` (a string) and `value` is one pair. Any other object is a map of ' +
      'pairs, applied all or none; the answer then adds `count`. Values are any JSON value.',
  })
  @ApiBody({
    schema: {
      oneOf: [
        { $ref: getSchemaPath(PairDto) },
        { type: 'object', additionalProperties: {}, minProperties: 1, description: 'A map of key to value.' },
      ],
    },
    examples: {
      pair: { summary: 'One pair', value: { key: 'key_1', value: 'value_1' } },
      map: { summary: 'Many pairs (atomic)', value: { 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three', 'xyz-2': 4 } },
    },
  })
  @ApiOkResponse({ type: SetResponseDto, description: 'Written.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed JSON, an empty object, an array or scalar body, an invalid key or option.' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`xx=true` and a key is absent; nothing was written.' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: '`nx=true` and a key exists; nothing was written.' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponseDto, description: 'A value over KV_MAX_VALUE_BYTES, or a body over KV_MAX_BODY_BYTES.' })
  @ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: 'The body is not `application/json`.' })
  async set(@Body() body: unknown, @Query() query: SetQueryDto): Promise<SetResponseDto> {
    const { single, count } = await this.kv.setPairs(body, query);
    return single
      ? { status: 'success', message: 'key-value pair is set successfully' }
      : { status: 'success', message: 'key-value pairs are set successfully', count };
  }

  @Get('get/:key')
  @ApiOperation({ summary: 'Get the value of a key', description: 'Percent-encode the key: `/get/a%2Fb` reads the key `a/b`.' })
  @ApiParam({ name: 'key', example: 'key_1' })
  @ApiOkResponse({ type: PairDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid key.' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`{"status":"error","message":"Key not found"}`: absent or expired.' })
  async get(@Param('key') key: string): Promise<PairDto> {
    const record = await this.kv.get(key);
    return { key: record.key, value: record.value };
  }

  @Get()
  @ApiOperation({
    summary: 'All pairs, as one JSON object in key order',
    description:
      'Keys are in Unicode code-point order. Paginated: when more remain, the `Link` header carries the next page (`rel="next"`). ' +
      'Takes the same `prefix` and `suffix` filters as `GET /search`.',
  })
  @ApiOkResponse({
    description: 'An object of key to value.',
    schema: { type: 'object', additionalProperties: {}, example: { 'abc-1': 1, 'abc-2': 2, 'xyz-1': 'three' } },
    headers: { Link: NEXT_LINK_HEADER },
  })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit or cursor.' })
  async all(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    const page = await this.kv.list(query);
    setNextLink(req, res, page.next);
    res.type('application/json');
    // Serialised by hand: a JS object would move integer-like keys ("2", "10") to the front and give a
    // key named "__proto__" special treatment; this keeps code-point order and treats every key as data.
    return `{${page.items.map((r) => `${JSON.stringify(r.key)}:${JSON.stringify(r.value)}`).join(',')}}`;
  }
}
