import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The partner API under chaos: a fraction of calls answer 500, 429, or hang (the client's timeout gives up; the
 * body is never applied). Applied calls take a few ms and are watched for overlap per order and for an older
 * version arriving after a newer one.
 */
export class ChaosPartner {
  readonly documents = new Map<string, { status: string; version: number }>();
  readonly highest = new Map<string, number>();
  overlaps = 0;
  staleAfterFresh = 0;
  duplicates = 0;
  applied = 0;
  faults = { 500: 0, 429: 0, hang: 0 };
  private inFlight = new Map<string, number>();
  private server?: Server;
  url = '';

  constructor(private readonly faultRate: number) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const id = (req.url ?? '').replace(/^\/orders\//, '');
        const roll = Math.random();
        if (roll < this.faultRate) {
          const kind = Math.floor((roll / this.faultRate) * 3);
          if (kind === 0) { this.faults[500] += 1; res.writeHead(500).end(); return; }
          if (kind === 1) { this.faults[429] += 1; res.writeHead(429, { 'retry-after': '1' }).end(); return; }
          this.faults.hang += 1;
          setTimeout(() => res.destroy(), 5000).unref(); // never answers; the client times out
          return;
        }
        const now = (this.inFlight.get(id) ?? 0) + 1;
        this.inFlight.set(id, now);
        if (now > 1) this.overlaps += 1;
        setTimeout(() => {
          this.inFlight.set(id, this.inFlight.get(id)! - 1);
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { status: string; version: number };
          const previous = this.documents.get(id);
          if (previous && previous.version === body.version) this.duplicates += 1;
          if ((this.highest.get(id) ?? -1) > body.version) this.staleAfterFresh += 1;
          this.highest.set(id, Math.max(this.highest.get(id) ?? -1, body.version));
          this.documents.set(id, body);
          this.applied += 1;
          res.writeHead(204).end();
        }, 2 + Math.random() * 8);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
