import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { StreamingRoutes } from './streaming-route';

/** What the HTTP pipeline (app.setup.ts) needs from the application: which routes stream. */
@Module({
  imports: [DiscoveryModule],
  providers: [StreamingRoutes],
  exports: [StreamingRoutes],
})
export class HttpPipelineModule {}
