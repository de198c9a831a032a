import { expect } from 'chai';
import { SyncMachines } from '../../lib';
import { TestDatabase } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { OrderToApiSync } from '../support/order-sync';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';
import { Customer, Order } from '../support/shop';

describe('smoke', () => {
  it('publishes a saved order', async () => {
    const db = await TestDatabase.create('sqlite');
    const ds = await db.connect();
    const api = await new PartnerApi().start();
    const prefix = freshPrefix('smoke');
    const logger = new MemoryLogger();
    const sync = await SyncMachines.start({ orm: ds, redis: REDIS_URL, prefix, logger,
      machines: [new OrderToApiSync(new ApiClient(api.url))], worker: { concurrency: 5 } });
    const c = await ds.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang' });
    const o = await ds.getRepository(Order).save({ customerId: c.id, status: 'purchased' });
    await sync.drain({ timeoutMs: 5000 });
    console.log(api.received, logger.lines);
    c.firstName = 'Janet';
    await ds.getRepository(Customer).save(c);
    await sync.drain({ timeoutMs: 5000 });
    console.log(api.received, logger.lines);
    expect(api.publishes().length).to.equal(2);
    await sync.close(); await api.stop(); await db.destroy(); await deleteKeys(prefix);
  });
});
