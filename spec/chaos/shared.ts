import type { SyncMachines } from '../../lib';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import {
  CreateSyncMachineOutbox1764892800000, CreateSyncMachinePayloads1764288000000, SyncMachineOutbox, SyncMachinePayload,
} from '../../adapters/typeorm';
import { Customer, Order } from '../support/shop';

/** What every chaos process shares: the database, the machine, the settings passed through the environment. */
export const POSTGRES_URL = process.env.CHAOS_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function chaosDataSource(schema: string): DataSource {
  return new DataSource({
    type: 'postgres', url: POSTGRES_URL, schema, extra: { options: `-c search_path=${schema}`, max: 5 },
    entities: [Customer, Order, SyncMachinePayload, SyncMachineOutbox],
    migrations: [CreateSyncMachinePayloads1764288000000, CreateSyncMachineOutbox1764892800000],
  });
}

/** Publishes with a client timeout, as an app must: the partner API sometimes never answers. */
export const PUBLISH_TIMEOUT_MS = 1500;

export function chaosMachine(apiUrl: string) {
  @SyncMachine({ subject: Order, name: 'Chaos', batchSize: 50 })
  @ListenTo(Order)
  class ChaosSync {
    @Build()
    build(order: Order) {
      return { id: String(order.id), status: order.status, version: order.version };
    }

    @Publish()
    async publish(order: Order, payload: unknown) {
      const res = await fetch(`${apiUrl}/orders/${order.id}`, {
        method: 'PUT', body: JSON.stringify(payload), headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`partner API answered ${res.status}`);
    }
  }
  return new ChaosSync();
}

/**
 * Starts a runtime the way a process's boot would while Redis may be restarting (`sync-machine worker` waits the
 * same way): tries again every 250 ms while Redis refuses connections, for 30 s at most.
 */
export async function startWhenRedisAnswers(start: () => Promise<SyncMachines>): Promise<SyncMachines> {
  for (const deadline = Date.now() + 30_000; ;) {
    try {
      return await start();
    } catch (error) {
      if (!/Cannot reach Redis/.test((error as Error).message) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export { Customer, Order };
