import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { KeyQueryDto } from '../common/dto/key-query.dto';
import { setNextLink } from '../common/http/pagination';
import { SearchService } from './search.service';
import { ApiSearchKeys } from './search.docs';

export const SEARCH_TAG = 'search';

@ApiTags(SEARCH_TAG)
@ApiKeyAuth()
@Controller('search')
export class SearchController {
  constructor(private readonly search: SearchService) {}

  @Get()
  @ApiSearchKeys()
  async find(@Query() query: KeyQueryDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string[]> {
    const page = await this.search.search(query);
    setNextLink(req, res, page.next);
    return page.keys;
  }
}
