import { Module } from '@nestjs/common';
import { TenantsService } from '../../../application/tenant/tenants.service.js';
import { AuthModule } from '../auth/auth.module.js';
import { TenantsController } from './tenants.controller.js';

@Module({
  imports: [AuthModule],
  controllers: [TenantsController],
  providers: [TenantsService],
})
export class TenantModule {}
