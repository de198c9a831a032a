import { DataSource, In } from 'typeorm';
import { planBurst, runBurst } from './burst';
import { Customer, Order } from './shop';

export interface Step {
  label: string;
  /** Print at most this many API requests; bursts would flood the terminal. */
  printLimit?: number;
  /** Makes the step's writes through the ORM, as application code would; returns how many save() writes. */
  run(): Promise<number>;
}

const NAMES = ['Ada Byron', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth',
  'Frances Allen', 'John Backus', 'Radia Perlman', 'Ken Thompson'];

/** The seed's cases, in order. Each step keeps what later steps need (Jane, the burst's orders) in this closure. */
export function shopSteps(dataSource: DataSource): Step[] {
  const customers = dataSource.getRepository(Customer);
  const orders = dataSource.getRepository(Order);
  let jane: Customer;
  let firstOrderId: number;
  let burstOrders: Order[] = [];

  return [
    { label: 'a. new customer Jane Yang + an order', run: async () => {
      jane = await customers.save(customers.create({ firstName: 'Jane', lastName: 'Yang', email: 'jane@example.com' }));
      firstOrderId = (await orders.save(orders.create({ customerId: jane.id, status: 'purchased' }))).id;
      return 2;
    } },
    { label: 'b. order warehouseCode W1 -> W7', run: async () => {
      const order = await orders.findOneByOrFail({ id: firstOrderId });
      order.warehouseCode = 'W7';
      await orders.save(order);
      return 1;
    } },
    { label: 'c. order status -> shipped', run: async () => {
      const order = await orders.findOneByOrFail({ id: firstOrderId });
      order.status = 'shipped';
      await orders.save(order);
      return 1;
    } },
    { label: 'setup: 2 more orders for Jane', run: async () => {
      await orders.save([1, 2].map(() => orders.create({ customerId: jane.id, status: 'purchased' })));
      return 2;
    } },
    { label: 'd. rename Jane -> Janet (3 orders)', run: async () => {
      jane = await customers.findOneByOrFail({ id: jane.id });
      jane.firstName = 'Janet';
      await customers.save(jane);
      return 1;
    } },
    { label: 'setup: 20 customers, 200 orders', printLimit: 3, run: async () => {
      const made = await customers.save(Array.from({ length: 20 }, (_, i) => {
        const [firstName, lastName] = NAMES[i % NAMES.length].split(' ');
        return customers.create({ firstName, lastName: i < NAMES.length ? lastName : `${lastName} II` });
      }));
      await orders.save(Array.from({ length: 200 }, (_, i) => orders.create({ customerId: made[i % made.length].id })));
      // Loaded once and kept: the burst mutates these objects and save()s them, like a long-running script would.
      burstOrders = await orders.find({ where: { customerId: In(made.map((c) => c.id)) }, order: { id: 'ASC' } });
      return made.length + 200;
    } },
    { label: 'e. burst: 5,000 saves, 250 per transaction', printLimit: 3, run: async () => {
      const plan = planBurst(burstOrders.length, { writes: 5000, perTransaction: 250, changed: 60, flippedBack: 40, seed: 7 });
      return runBurst(dataSource, burstOrders, plan);
    } },
  ];
}
