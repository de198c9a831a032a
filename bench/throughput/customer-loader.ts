import DataLoader from 'dataloader';
import { DataSource, In } from 'typeorm';
import { LeanCustomer } from './entities';

export type CustomerLoader = DataLoader<number, LeanCustomer>;

/**
 * Batches the customer reads of concurrent @Build calls into one `IN (...)` query. No cache: a machine lives as
 * long as the worker, and a cached customer would build stale payloads after a rename.
 */
export function customerLoader(dataSource: DataSource): CustomerLoader {
  const customers = dataSource.getRepository(LeanCustomer);
  return new DataLoader<number, LeanCustomer>(async (ids) => {
    const rows = await customers.findBy({ id: In([...new Set(ids)]) });
    const byId = new Map(rows.map((c) => [c.id, c]));
    return ids.map((id) => byId.get(id) ?? new Error(`LeanCustomer ${id} not found: the order points at a deleted customer`));
  }, { cache: false });
}
