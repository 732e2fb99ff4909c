import { Module } from '@nestjs/common';
import { PROJECTION_REBUILDS } from '../../../application/ports/projection-rebuilds.port.js';
import { SCHEDULED_WORK } from '../../../application/ports/scheduled-work.port.js';
import { ParkedEventsService } from '../../../application/projections/parked-events.service.js';
import { ProjectionAdminService } from '../../../application/projections/projection-admin.service.js';
import { PostgresProjectionRebuilds } from '../../../infrastructure/event-store/postgres-projection-rebuilds.js';
import { PostgresScheduledWork } from '../../../infrastructure/scheduling/postgres-scheduled-work.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../../../infrastructure/tenancy/control-database.js';
import { AuthModule } from '../auth/auth.module.js';
import { ParkedEventsController } from './parked-events.controller.js';
import { ProjectionsController } from './projections.controller.js';

/**
 * Operations on projections and parked events; the services are also what the operator CLI runs
 * (src/interfaces/cli/conflux.ts).
 * It reads the scheduled-work checkpoint through its own adapter instance: no worker runs here.
 */
export const projectionAdminProviders = [
  {
    provide: PROJECTION_REBUILDS,
    inject: [CONTROL_DATABASE],
    useFactory: async (control: ControlDatabase) => {
      const rebuilds = new PostgresProjectionRebuilds(control.pool);
      await rebuilds.migrate();
      return rebuilds;
    },
  },
  {
    provide: SCHEDULED_WORK,
    inject: [CONTROL_DATABASE],
    useFactory: async (control: ControlDatabase) => {
      const work = new PostgresScheduledWork(control.pool);
      await work.migrate();
      return work;
    },
  },
  ProjectionAdminService,
  ParkedEventsService,
];

@Module({
  imports: [AuthModule],
  controllers: [ProjectionsController, ParkedEventsController],
  providers: projectionAdminProviders,
})
export class AdminModule {}
