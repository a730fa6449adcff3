import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiKeyAuth } from '../auth/auth.decorators';
import { CreateSubscriptionDto } from './dto/create-subscription.dto';
import { CreatedSubscriptionDto, SubscriptionDto } from './dto/subscription.dto';
import { SubscriptionsService } from './subscriptions.service';
import { ApiCreateSubscription, ApiListSubscriptions, ApiGetSubscription, ApiDeleteSubscription } from './subscriptions.docs';

export const SUBSCRIPTIONS_TAG = 'subscriptions';

@ApiTags(SUBSCRIPTIONS_TAG)
@ApiKeyAuth('admin')
@Controller('subscriptions')
export class SubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionsService) {}

  @Post()
  @ApiCreateSubscription()
  create(@Body() body: CreateSubscriptionDto): Promise<CreatedSubscriptionDto> {
    return this.subscriptions.create(body);
  }

  @Get()
  @ApiListSubscriptions()
  list(): Promise<SubscriptionDto[]> {
    return this.subscriptions.list();
  }

  @Get(':id')
  @ApiGetSubscription()
  get(@Param('id') id: string): Promise<SubscriptionDto> {
    return this.subscriptions.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiDeleteSubscription()
  async delete(@Param('id') id: string): Promise<void> {
    await this.subscriptions.delete(id);
  }
}
