import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MinLength } from 'class-validator';
import { IsKeyText } from '../../common/validation/transforms';

/** Which keys to follow: at most one of key, prefix and suffix; none follows every key. */
export class EventFilterDto {
  @ApiPropertyOptional({ description: 'Only this key. At most one of key, prefix, suffix; none: every key.', example: 'user:42' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @IsKeyText()
  key?: string;

  @ApiPropertyOptional({ description: 'Only keys that start with this.', example: 'user:' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @IsKeyText()
  prefix?: string;

  @ApiPropertyOptional({ description: 'Only keys that end with this.', example: ':profile' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @IsKeyText()
  suffix?: string;
}
