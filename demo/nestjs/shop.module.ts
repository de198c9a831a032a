import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ApiClient } from '../api-client';
import { optionsFor } from '../typeorm/data-source';
import { OrderToApiSync } from './order-to-api-sync';
import { ShopService } from './shop.service';

/** Read once, where the modules are built: the demo's processes get their settings from the environment. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the NestJS demo reads DATABASE_URL, REDIS_URL, PARTNER_API_URL, SYNC_PREFIX)`);
  return value;
}

/** Closes the DataSource last, as @nestjs/typeorm does (sync-machine closes before, in beforeApplicationShutdown). */
@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * The shop: its DataSource (what TypeOrmModule.forRoot would provide; written out so the demo needs no
 * @nestjs/typeorm), its service, and its sync machine, an ordinary provider.
 */
@Global()
@Module({
  providers: [
    { provide: DataSource, useFactory: () => new DataSource(optionsFor(env('DATABASE_URL'))).initialize() },
    DataSourceCloser,
    { provide: ApiClient, useFactory: () => new ApiClient(env('PARTNER_API_URL')) },
    OrderToApiSync,
    ShopService,
  ],
  exports: [DataSource, ShopService],
})
export class ShopModule {}
