import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConditionalRoutes } from './conditional';
import { RouteTable } from './route-table';
import { StreamingRoutes } from './streaming-route';

/**
 * What the HTTP pipeline (app.setup.ts) needs from the application: which routes stream, which evaluate
 * preconditions, and which methods each path serves (405 and its Allow).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [StreamingRoutes, ConditionalRoutes, RouteTable],
  exports: [StreamingRoutes, ConditionalRoutes, RouteTable],
})
export class HttpPipelineModule {}
