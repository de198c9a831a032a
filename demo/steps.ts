import { planBurst } from './burst';
import type { ShopWrites } from './shop-port';

export interface Step {
  label: string;
  /** Print at most this many API requests; bursts would flood the terminal. */
  printLimit?: number;
  /** Makes the step's writes through the ORM, as application code would; returns how many saved rows. */
  run(): Promise<number>;
}

const NAMES = ['Ada Byron', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth',
  'Frances Allen', 'John Backus', 'Radia Perlman', 'Ken Thompson'];

/** The seed's cases, in order, on either ORM. Each step keeps what later steps need (Jane, the burst's orders) in this closure. */
export function shopSteps(shop: ShopWrites): Step[] {
  let janeId: number;
  let firstOrderId: number;
  let burstOrderIds: number[] = [];

  return [
    { label: 'a. new customer Jane Yang + an order', run: async () => {
      janeId = await shop.createCustomer({ firstName: 'Jane', lastName: 'Yang', email: 'jane@example.com' });
      [firstOrderId] = await shop.createOrders([janeId]);
      return 2;
    } },
    { label: 'b. order warehouseCode W1 -> W7', run: async () => {
      await shop.updateOrder(firstOrderId, { warehouseCode: 'W7' });
      return 1;
    } },
    { label: 'c. order status -> shipped', run: async () => {
      await shop.updateOrder(firstOrderId, { status: 'shipped' });
      return 1;
    } },
    { label: 'setup: 2 more orders for Jane', run: async () => {
      await shop.createOrders([janeId, janeId]);
      return 2;
    } },
    { label: 'd. rename Jane -> Janet (3 orders)', run: async () => {
      await shop.updateCustomer(janeId, { firstName: 'Janet' });
      return 1;
    } },
    { label: 'setup: 20 customers, 200 orders', printLimit: 3, run: async () => {
      const made = await shop.createCustomers(Array.from({ length: 20 }, (_, i) => {
        const [firstName, lastName] = NAMES[i % NAMES.length].split(' ');
        return { firstName, lastName: i < NAMES.length ? lastName : `${lastName} II` };
      }));
      burstOrderIds = (await shop.createOrders(Array.from({ length: 200 }, (_, i) => made[i % made.length]))).sort((a, b) => a - b);
      return made.length + 200;
    } },
    { label: 'e. burst: 5,000 saves, 250 per transaction', printLimit: 3, run: async () => {
      const plan = planBurst(burstOrderIds.length, { writes: 5000, perTransaction: 250, changed: 60, flippedBack: 40, seed: 7 });
      return shop.runBurst(burstOrderIds, plan);
    } },
  ];
}
