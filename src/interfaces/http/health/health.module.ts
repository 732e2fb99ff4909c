import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DrainingState } from './draining-state.js';
import { HealthController } from './health.controller.js';

@Module({
  // Failures are answered (and logged) by the controller, without Terminus' own error log.
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [DrainingState],
  exports: [DrainingState],
})
export class HealthModule {}
