import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { NEXT_LINK_HEADER, setNextLink } from '../common/http/pagination';
import { SearchService } from './search.service';

export const SEARCH_TAG = 'search';

@ApiTags(SEARCH_TAG)
@ApiKeyAuth()
@Controller('search')
export class SearchController {
  constructor(private readonly search: SearchService) {}

  @Get()
  @ApiOperation({
    summary: 'Keys by prefix and/or suffix',
    description:
      'A JSON array of keys in Unicode code-point order. `prefix` and `suffix` together match keys that have both; neither ' +
      'matches every key; an empty filter is no filter. Answered from ordered indexes (O(log n + k)), not by scanning. ' +
      'Paginated like `GET /`: `limit`, `after`, and a `Link: <...>; rel="next"` header while more remain.',
  })
  @ApiOkResponse({
    description: 'Matching keys.',
    schema: { type: 'array', items: { type: 'string' }, example: ['abc-1', 'abc-2'] },
    headers: { Link: NEXT_LINK_HEADER },
  })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid limit, cursor or filter (e.g. a repeated parameter).' })
  async find(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string[]> {
    const page = await this.search.search(query);
    setNextLink(req, res, page.next);
    return page.keys;
  }
}
