import { Module } from '@nestjs/common';
import { ValidationModule } from '../common/validation/validation.module';
import { SearchController } from './search.controller';
import { SearchService } from './search.service';

/** Prefix and suffix search (`GET /search`), the seeds' `/search` answered from indexes instead of scans. */
@Module({
  imports: [ValidationModule],
  controllers: [SearchController],
  providers: [SearchService],
})
export class SearchModule {}
