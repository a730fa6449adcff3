import { Module } from '@nestjs/common';
import { SearchController } from './search.controller';
import { SearchService } from './search.service';

/** Prefix and suffix search (`GET /search`), the seeds' `/search` answered from indexes instead of scans. */
@Module({
  controllers: [SearchController],
  providers: [SearchService],
})
export class SearchModule {}
