import { expect } from 'chai';
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { Customer, Order } from '../support/shop';

const DRAIN = { timeoutMs: 20_000 };

class TestReader extends MetricReader {
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

function throwingMachine(api: PartnerApi) {
  @SyncMachine({ subject: Order, name: 'Throwing' })
  @ListenTo(Order)
  class ThrowingSync {
    client = new ApiClient(api.url);
    @Build() build(order: Order) {
      if (order.status === 'explode') throw new Error('no payload for exploding orders');
      return { id: String(order.id) };
    }
    @Publish() async publish(order: Order, payload: unknown) { await this.client.putOrder(String(order.id), payload); }
  }
  return new ThrowingSync();
}

describe('OpenTelemetry: one trace from the write to the partner API call', () => {
  const exporter = new InMemorySpanExporter();
  const reader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  let h: Harness;

  before(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  });
  after(() => {
    trace.disable();
    context.disable();
    propagation.disable();
    metrics.disable();
  });
  beforeEach(async () => { exporter.reset(); h = await new Harness('sqlite', 'tracing').setUp(); });
  afterEach(async () => h.tearDown());

  const tracer = () => trace.getTracer('the-app');
  const inRequest = <T>(name: string, fn: () => Promise<T>) =>
    tracer().startActiveSpan(name, async (span) => { try { return await fn(); } finally { span.end(); } });
  const spans = () => exporter.getFinishedSpans();
  const byId = (id: string) => spans().find((s) => s.spanContext().spanId === id);
  const parentOf = (s: ReadableSpan) => byId(s.parentSpanContext?.spanId ?? '');
  const processSpans = (step: string) => spans().filter((s) => s.name === `process ${h.prefix}:OrderToApiSync:${step}`);

  it('puts capture, EnsurePublication and every hook under the request that saved the order', async () => {
    const worker = await h.startWorker();
    const customer = await h.customer();
    await worker.drain(DRAIN);
    exporter.reset();
    const order = await inRequest('POST /orders', () => h.order(customer));
    await worker.drain(DRAIN);

    const request = spans().find((s) => s.name === 'POST /orders')!;
    const publish = spans().find((s) => s.name === 'publish')!;
    expect(publish.spanContext().traceId).to.equal(request.spanContext().traceId);
    const run = parentOf(publish)!;
    expect(run.name).to.equal(`process ${h.prefix}:OrderToApiSync:ensure-publication`);
    expect(run.kind).to.equal(SpanKind.CONSUMER);
    expect(run.attributes).to.include({
      'sync_machine.machine': 'OrderToApiSync', 'sync_machine.subject_id': String(order.id),
      'sync_machine.outcome': 'published', 'sync_machine.job.attempt': 1,
      'messaging.system.name': 'bee-queue', 'messaging.operation.type': 'process',
    });
    const send = parentOf(run)!;
    expect(send.name).to.equal(`send ${h.prefix}:OrderToApiSync:ensure-publication`);
    expect(send.kind).to.equal(SpanKind.PRODUCER);
    expect(parentOf(send)).to.equal(request);
    expect(spans().filter((s) => parentOf(s) === run).map((s) => s.name).sort()).to.deep.equal(['build', 'check_publishable', 'publish']);
  });

  it('follows a customer rename through FindSubjects into each order run, in one trace', async () => {
    const worker = await h.startWorker();
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer)];
    await worker.drain(DRAIN);
    exporter.reset();
    await inRequest('PATCH /customers', async () => {
      customer.firstName = 'Janet';
      await h.ds.getRepository(Customer).save(customer);
    });
    await worker.drain(DRAIN);
    const traceId = spans().find((s) => s.name === 'PATCH /customers')!.spanContext().traceId;
    const lookup = processSpans('find-subjects')[0];
    expect(lookup.spanContext().traceId).to.equal(traceId);
    expect(lookup.attributes['sync_machine.changed_keys']).to.deep.equal(['firstName']);
    expect(spans().filter((s) => s.name === 'subject_ids_from Customer').map(parentOf)).to.deep.equal([lookup]);
    const publishes = spans().filter((s) => s.name === 'publish');
    expect(publishes).to.have.length(orders.length);
    for (const p of publishes) expect(p.spanContext().traceId).to.equal(traceId);
    // One send, for the renamed row, and the runs continue it. Before, the run made a second one that nothing
    // continued: a message sent and never consumed, in a trial's trace viewer.
    const sends = spans().filter((s) => s.name === `send ${h.prefix}:OrderToApiSync:ensure-publication`);
    expect(sends.map(parentOf), 'sends under the find-subjects run').to.deep.equal([lookup]);
    expect(processSpans('ensure-publication').map(parentOf), 'runs under the send').to.deep.equal(orders.map(() => sends[0]));
  });

  it('records the outcome of unchanged, not_publishable and failed runs, with ERROR status on failure', async () => {
    const worker = await h.startWorker({ worker: { concurrency: 2, retry: { attempts: 1, initialDelayMs: 10 } } });
    const customer = await h.customer();
    const order = await h.order(customer);
    await worker.drain(DRAIN);
    exporter.reset();
    await h.update(order, { warehouseCode: 'W2' });
    await worker.drain(DRAIN);
    await h.order(customer, { status: 'draft' });
    await worker.drain(DRAIN);
    h.api.failNext = 1;
    await h.update(order, { status: 'shipped' });
    await worker.drain(DRAIN);
    const outcomes = processSpans('ensure-publication').map((s) => s.attributes['sync_machine.outcome']).sort();
    expect(outcomes).to.deep.equal(['failed', 'not_publishable', 'unchanged']);
    const failed = processSpans('ensure-publication').find((s) => s.attributes['sync_machine.outcome'] === 'failed')!;
    expect(failed.status.code).to.equal(SpanStatusCode.ERROR);
    const publish = spans().find((s) => s.name === 'publish' && parentOf(s) === failed)!;
    expect(publish.status).to.deep.include({ code: SpanStatusCode.ERROR });
    expect(publish.events.map((e) => e.name)).to.deep.equal(['exception']);
  });

  it('links a coalesced run to every request that it covers', async () => {
    const capture = await h.start();
    const order = await h.order(await h.customer());
    const requests = ['PUT a', 'PUT b', 'PUT c'];
    for (const name of requests) await inRequest(name, () => h.update(order, { status: name }));
    const worker = await h.startWorker();
    await worker.drain(DRAIN);
    await capture.close();
    const run = processSpans('ensure-publication').find((s) => s.attributes['sync_machine.outcome'] === 'published')!;
    const origins = [parentOf(run)!, ...run.links.map((l) => byId(l.context.spanId)!)];
    // The job was made by the order's insert; the three updates coalesced into it. The customer's lookup
    // may coalesce into it too, or come after the claim, depending on timing: it is left out of the count.
    const fromApp = origins.map((send) => parentOf(send)?.name ?? '(insert)').filter((name) => !name.startsWith('process '));
    expect(fromApp.sort()).to.deep.equal(['(insert)', ...requests]);
  });

  it('marks a throwing hook span ERROR with the exception', async () => {
    const worker = await h.startWorker({ machines: [throwingMachine(h.api)], worker: { concurrency: 2, retry: { attempts: 1, initialDelayMs: 10 } } });
    await h.order(await h.customer(), { status: 'explode' });
    await worker.drain(DRAIN);
    const build = spans().find((s) => s.name === 'build')!;
    expect(build.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: build.status.message });
    expect(build.status.message).to.match(/^ThrowingSync\.build threw for Order \d+: no payload for exploding orders$/);
    expect(build.events[0].attributes!['exception.message']).to.equal(build.status.message);
  });

  it('counts runs by outcome and records commit-to-publish latency per machine', async () => {
    const worker = await h.startWorker();
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    await h.update(order, { warehouseCode: 'W3' });
    await worker.drain(DRAIN);
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const runs = all.find((m) => m.descriptor.name === 'sync_machine.runs')!;
    const count = (outcome: string) => runs.dataPoints
      .filter((p) => p.attributes['sync_machine.outcome'] === outcome && p.attributes['sync_machine.step'] === 'ensure-publication')
      .reduce((sum, p) => sum + (p.value as number), 0);
    expect(count('published')).to.be.at.least(1);
    expect(count('unchanged')).to.be.at.least(1);
    const latency = all.find((m) => m.descriptor.name === 'sync_machine.publish.latency')!;
    expect(latency.descriptor.unit).to.equal('ms');
    const point = latency.dataPoints.find((p) => p.attributes['sync_machine.machine'] === 'OrderToApiSync')!;
    const histogram = point.value as { count: number; min?: number; max?: number };
    expect(histogram.count).to.be.at.least(1);
    expect(histogram.min).to.be.at.least(0);
    expect(histogram.max).to.be.below(10_000);
  });
});
