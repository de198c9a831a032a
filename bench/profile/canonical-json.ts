import { canonicalJson } from '../../lib/store/canonical-json';

/*
 * node dist/bench/profile/canonical-json.js [rounds]: µs per payload of canonicalJson beside JSON.stringify (which
 * sorts nothing), for two payload shapes of 5,000 subjects: an order with three lines (a to-many relation, trial CG)
 * and the demo's order with its customer and a Date. Every subject of a run is encoded, the unchanged ones of a
 * resync too. Prints the best of `rounds` (default 25), alternating, and the ratio.
 */
const SUBJECTS = 5000;

function shapes(): Array<[string, unknown[]]> {
  const lines = Array.from({ length: SUBJECTS }, (_, i) => ({
    number: `ORD-${i}`, status: 'paid', total: 1000 + i, warehouse: `W${i % 7}`,
    lines: [1, 2, 3].map((n) => ({ sku: `SKU-${n}-${i % 13}`, qty: n })),
  }));
  const orders = Array.from({ length: SUBJECTS }, (_, i) => ({
    id: String(i), order_status: 'purchased', total_cents: 1000 + i, placed_at: new Date(1e12 + i),
    customer: { first_name: 'Jane', last_name: 'Yang', email: `jane${i}@example.com`, warehouse_code: `W${i % 7}` },
  }));
  return [['order with three lines', lines], ['order with customer and Date', orders]];
}

function microsPerPayload(encode: (value: unknown) => string, payloads: unknown[]): number {
  const started = process.hrtime.bigint();
  let length = 0;
  for (let r = 0; r < 10; r++) for (const payload of payloads) length += encode(payload).length;
  if (length === 0) throw new Error('nothing encoded');
  return Number(process.hrtime.bigint() - started) / 1000 / (10 * payloads.length);
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 25);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`canonical-json: rounds must be a whole number above 0, not ${process.argv[2]}`);
  for (const [name, payloads] of shapes()) {
    let canonical = Infinity;
    let plain = Infinity;
    for (let r = 0; r < rounds; r++) {
      canonical = Math.min(canonical, microsPerPayload(canonicalJson, payloads));
      plain = Math.min(plain, microsPerPayload(JSON.stringify, payloads));
    }
    console.log(`${name}: canonicalJson ${canonical.toFixed(2)} µs, JSON.stringify ${plain.toFixed(2)} µs (${(canonical / plain).toFixed(2)}×)`);
  }
}

main();
