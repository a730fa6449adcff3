import { Module } from '@nestjs/common';
import { ValidationModule } from '../common/validation/validation.module';
import { KeysController } from './keys.controller';
import { KeyValueService } from './key-value.service';
import { KvController } from './kv.controller';

/** Reading and writing keys: the REST resource API and the seed-compatible routes. */
@Module({
  imports: [ValidationModule],
  // KeysController first: Swagger lists the canonical API before the compatibility routes.
  controllers: [KeysController, KvController],
  providers: [KeyValueService],
  exports: [KeyValueService],
})
export class KeyValueModule {}
