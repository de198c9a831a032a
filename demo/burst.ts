import type { OrderStatus } from './shop-port';

/** One save() of the burst: an order (by index) and the field it changes. */
export interface BurstWrite {
  order: number;
  status?: OrderStatus;
  warehouseCode?: string;
}

export interface BurstShape {
  writes: number;
  perTransaction: number;
  /** Orders whose status ends different from where it started: the only ones the API must hear about. */
  changed: number;
  /** Orders whose status changes and changes back: noise that must cost no API call. */
  flippedBack: number;
  seed: number;
}

/** A small seeded PRNG (mulberry32): the same burst, and so the same expected count, on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A migration-style burst over orders that all start 'purchased' in warehouse 'W1': mostly warehouse churn.
 * An order's status writes all land in one transaction, so no reader ever sees a status that is later
 * undone; that is what makes "one call per order whose final payload differs" an exact number.
 */
export function planBurst(orderCount: number, shape: BurstShape): BurstWrite[][] {
  const rand = random(shape.seed);
  const picked = [...Array(orderCount).keys()];
  for (let i = picked.length - 1; i > 0; i -= 1) { // Fisher-Yates
    const j = Math.floor(rand() * (i + 1));
    [picked[i], picked[j]] = [picked[j], picked[i]];
  }
  const count = Math.ceil(shape.writes / shape.perTransaction);
  const statusWrites: BurstWrite[][] = Array.from({ length: count }, () => []);
  picked.slice(0, shape.changed).forEach((order, i) => {
    const writes: BurstWrite[] = i % 2 === 0
      ? [{ order, status: 'shipped' }]
      : [{ order, status: 'shipped' }, { order, status: 'received' }];
    statusWrites[i % count].push(...writes);
  });
  picked.slice(shape.changed, shape.changed + shape.flippedBack).forEach((order, i) => {
    statusWrites[(i + 7) % count].push({ order, status: 'received' }, { order, status: 'purchased' });
  });

  const codes = Array<string>(orderCount).fill('W1');
  const transactions: BurstWrite[][] = [];
  for (let t = 0; t < count; t += 1) {
    const size = Math.min(shape.perTransaction, shape.writes - t * shape.perTransaction);
    const writes: BurstWrite[] = [];
    for (let i = statusWrites[t].length; i < size; i += 1) {
      const order = Math.floor(rand() * orderCount);
      let code = codes[order];
      while (code === codes[order]) code = `W${1 + Math.floor(rand() * 9)}`; // a real change, so save() really writes
      codes[order] = code;
      writes.push({ order, warehouseCode: code });
    }
    let at = 0; // status writes scattered among the churn, in their own order
    for (const write of statusWrites[t]) {
      at += Math.floor(rand() * (writes.length - at + 1));
      writes.splice(at, 0, write);
      at += 1;
    }
    transactions.push(writes);
  }
  return transactions;
}
