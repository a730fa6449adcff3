import { ApiProperty } from '@nestjs/swagger';
import type { JsonValue, KvRecord } from '../../store/kv.store';

/** A stored key with its metadata, as the REST API shows it. */
export class RecordDto {
  @ApiProperty({ example: 'user:42' })
  key!: string;

  @ApiProperty({ description: 'Any JSON value.', example: { name: 'ashish' } })
  value!: JsonValue;

  @ApiProperty({ description: 'Store revision of the key\'s last change, in `keyspace`.', example: 7 })
  revision!: number;

  @ApiProperty({
    description: 'The keyspace the revision belongs to (a new one begins when the store cannot rule out handing a revision out twice). The ETag is `"<keyspace>:<revision>"`.',
    example: '5f0c2a9be41d',
  })
  keyspace!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-24T10:00:00.000Z' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-24T10:05:00.000Z' })
  updatedAt!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, example: null, description: 'null: never expires.' })
  expiresAt!: string | null;

  static from(record: KvRecord, keyspace: string): RecordDto {
    return {
      key: record.key,
      value: record.value,
      revision: record.revision,
      keyspace,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.updatedAt).toISOString(),
      expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
    };
  }
}

export class RecordPageDto {
  @ApiProperty({ type: [RecordDto] })
  items!: RecordDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `after` to get the next page; null on the last page.', example: 'user:42' })
  next!: string | null;
}
