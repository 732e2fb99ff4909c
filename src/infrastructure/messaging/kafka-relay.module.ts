import { Global, Module } from '@nestjs/common';
import { ReportNotificationRelay } from '../../application/delivery/report-notification-relay.js';
import { DELIVERY_CHECKPOINTS } from '../../application/ports/delivery-checkpoints.port.js';
import { LOGGER, type Logger } from '../../application/ports/logger.port.js';
import { MESSAGE_BUS } from '../../application/ports/message-bus.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../tenancy/control-database.js';
import { KafkaMessageBus } from './kafka-message-bus.js';
import { PostgresDeliveryCheckpoints } from './postgres-delivery-checkpoints.js';

/**
 * The Kafka relay (issue 9): imported only when KAFKA_BROKERS is set. Global, so that readiness can
 * report the broker (`MESSAGE_BUS`, optional there) without importing this module.
 */
@Global()
@Module({
  providers: [
    {
      provide: MESSAGE_BUS,
      inject: [APP_CONFIG, LOGGER],
      useFactory: (config: AppConfig, logger: Logger) =>
        new KafkaMessageBus(
          { brokers: config.kafkaBrokers, ...config.kafka },
          logger.child({ component: 'kafka' }),
        ),
    },
    {
      provide: DELIVERY_CHECKPOINTS,
      inject: [CONTROL_DATABASE],
      useFactory: async (control: ControlDatabase) => {
        const checkpoints = new PostgresDeliveryCheckpoints(control.pool);
        await checkpoints.migrate();
        return checkpoints;
      },
    },
    ReportNotificationRelay,
  ],
  exports: [MESSAGE_BUS],
})
export class KafkaRelayModule {}
