import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { ConditionalRequestsGuard } from './conditional';
import { RouteTable } from './route-table';
import { StreamingRoutes } from './streaming-route';

/**
 * What the HTTP pipeline (app.setup.ts) needs from the application: which routes stream, which methods each path
 * serves (405 and its Allow), and the refusal of preconditions on routes that do not evaluate them (a global
 * guard, after the access guards).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [StreamingRoutes, RouteTable, { provide: APP_GUARD, useClass: ConditionalRequestsGuard }],
  exports: [StreamingRoutes, RouteTable],
})
export class HttpPipelineModule {}
