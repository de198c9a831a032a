import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SyncMachineModule } from 'sync-machine/nestjs';
import { env, ShopModule } from './shop.module';

/** The web app: captures the shop's changes and enqueues them; runs no jobs (no `worker`). */
@Module({
  imports: [
    ShopModule,
    SyncMachineModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({ orm: dataSource, redis: env('REDIS_URL'), prefix: env('SYNC_PREFIX') }),
    }),
  ],
})
export class AppModule {}

/** The worker: the same modules with `worker` set, run as its own application context (worker.ts). */
@Module({
  imports: [
    ShopModule,
    SyncMachineModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({
        orm: dataSource, redis: env('REDIS_URL'), prefix: env('SYNC_PREFIX'),
        worker: { concurrency: 10, retry: { attempts: 3, initialDelayMs: 200 } },
      }),
    }),
  ],
})
export class WorkerModule {}
