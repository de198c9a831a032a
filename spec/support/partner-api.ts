import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RetryAfter } from '../../lib';

export interface Received {
  method: string;
  id: string;
  body: Record<string, unknown> | null;
  /** When the request arrived, and when it was answered. */
  startedAt: number;
  /** Who sent it (the client's `x-sender` header), when it said. */
  sender?: string;
  at: number;
}

/**
 * The "external API": a real HTTP server on loopback. It records every request, can fail or be slow on
 * demand, and tracks requests in flight per order, so tests can see overlapping publishes.
 */
export class PartnerApi {
  readonly received: Received[] = [];
  /** Latest document per order id, as the partner would hold it. */
  readonly documents = new Map<string, Record<string, unknown>>();
  maxInFlightPerId = 0;
  failNext = 0;
  /** Answer the next requests 429 with `Retry-After: retryAfterSeconds`. */
  throttleNext = 0;
  retryAfterSeconds = 1;
  /** When each 429 was answered. */
  readonly throttledAt: number[] = [];
  /** When every request arrived, answered or not. */
  readonly arrivals: number[] = [];
  delayMs = 0;
  /** Ids whose requests are never answered (a partner that hangs); their sockets close at stop(). */
  readonly hang = new Set<string>();
  private inFlight = new Map<string, number>();
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  publishes(id?: string): Received[] {
    return this.received.filter((r) => r.method === 'PUT' && (id === undefined || r.id === id));
  }

  deletes(id?: string): Received[] {
    return this.received.filter((r) => r.method === 'DELETE' && (id === undefined || r.id === id));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = decodeURIComponent((req.url ?? '').replace(/^\/orders\//, ''));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const startedAt = Date.now();
    this.arrivals.push(startedAt);
    // No answer, ever (the client gave up when it aborted); not counted in flight, as its client is gone.
    if (this.hang.has(id)) return;
    const now = (this.inFlight.get(id) ?? 0) + 1;
    this.inFlight.set(id, now);
    this.maxInFlightPerId = Math.max(this.maxInFlightPerId, now);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      if (this.throttleNext > 0) {
        this.throttleNext -= 1;
        this.throttledAt.push(Date.now());
        res.writeHead(429, { 'retry-after': String(this.retryAfterSeconds) }).end('slow down');
        return;
      }
      if (this.failNext > 0) {
        this.failNext -= 1;
        res.writeHead(503).end('partner API unavailable');
        return;
      }
      const body = text ? JSON.parse(text) : null;
      const sender = typeof req.headers['x-sender'] === 'string' ? req.headers['x-sender'] : undefined;
      this.received.push({ method: req.method ?? '', id, body, startedAt, at: Date.now(), sender });
      if (req.method === 'PUT') this.documents.set(id, body);
      if (req.method === 'DELETE') this.documents.delete(id);
      res.writeHead(204).end();
    } finally {
      this.inFlight.set(id, this.inFlight.get(id)! - 1);
    }
  }
}

/** What an app's API client looks like: throws on a non-2xx answer, and RetryAfter on a 429 (its Retry-After header). */
export class ApiClient {
  /** `sender` goes out as the `x-sender` header, so a test can tell which process sent what. */
  constructor(private readonly baseUrl: string, private readonly sender?: string) {}

  /** `signal`: the publish's ctx.signal, when the hook passes it. */
  async putOrder(id: string, payload: unknown, signal?: AbortSignal): Promise<void> {
    await this.send('PUT', id, JSON.stringify(payload), signal);
  }

  async deleteOrder(id: string): Promise<void> {
    await this.send('DELETE', id);
  }

  private async send(method: string, id: string, body?: string, signal?: AbortSignal): Promise<void> {
    const res = await fetch(`${this.baseUrl}/orders/${encodeURIComponent(id)}`, {
      method, body, signal, headers: { 'content-type': 'application/json', ...(this.sender ? { 'x-sender': this.sender } : {}) },
    });
    if (res.status === 429) {
      throw new RetryAfter(Number(res.headers.get('retry-after') ?? '1') * 1000, `partner API answered 429 to ${method} /orders/${id}`);
    }
    if (!res.ok) throw new Error(`partner API answered ${res.status} to ${method} /orders/${id}`);
  }
}
