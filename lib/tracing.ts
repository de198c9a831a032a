import {
  Attributes, Context, context, INVALID_SPAN_CONTEXT, Link, propagation, ProxyTracerProvider, ROOT_CONTEXT, Span,
  SpanKind, SpanStatusCode, trace, Tracer,
} from '@opentelemetry/api';

const NAME = 'sync-machine';
const VERSION = '0.1.0';

/** Attribute keys, in one place. Messaging keys are incubating semantic conventions, copied as constants. */
export const ATTR = {
  machine: 'sync_machine.machine',
  subjectId: 'sync_machine.subject_id',
  entity: 'sync_machine.entity',
  entityId: 'sync_machine.entity_id',
  changedKeys: 'sync_machine.changed_keys',
  outcome: 'sync_machine.outcome',
  attempt: 'sync_machine.job.attempt',
  messagingSystem: 'messaging.system.name',
  messagingOperation: 'messaging.operation.type',
  messagingDestination: 'messaging.destination.name',
  messagingBatchCount: 'messaging.batch.message_count',
} as const;

/** W3C trace context as it travels in job data: `{ traceparent, tracestate? }`, or `{}` with no SDK. */
export type Carrier = Record<string, string>;

const NOOP_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Whether an SDK is registered: without one, per-subject work skips building what only spans would read. */
export function tracing(): boolean {
  return activeTracer() !== undefined;
}

/** The SDK's tracer, or undefined when the application registered none: the fast path. */
function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  if (provider instanceof ProxyTracerProvider) return provider.getDelegateTracer(NAME, VERSION);
  return provider.getTracer(NAME, VERSION);
}

export interface SpanSettings {
  kind?: SpanKind;
  /** Parent context; default: the active one. */
  parent?: Context;
}

/**
 * Runs `fn` inside a span named `name`; records a thrown error (status ERROR) and rethrows it.
 * With no SDK registered, `fn` runs directly with a no-op span. Per-subject spans pass their attributes as a
 * function, so that without an SDK nothing is built for them (an unchanged resync spent a tenth of its
 * allocations on attributes no one read).
 */
export async function traced<T>(
  name: string, attributes: Attributes | (() => Attributes), fn: (span: Span) => Promise<T>, settings: SpanSettings = {},
): Promise<T> {
  const tracer = activeTracer();
  if (!tracer) return fn(NOOP_SPAN);
  const parent = settings.parent ?? context.active();
  const attrs = typeof attributes === 'function' ? attributes() : attributes;
  return tracer.startActiveSpan(name, { attributes: attrs, kind: settings.kind }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active context as a carrier for job data. */
export function currentCarrier(): Carrier {
  const carrier: Carrier = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The context a job's carrier names; tolerant of junk, since job data is input. */
export function contextFrom(carrier: unknown): Context {
  if (!carrier || typeof carrier !== 'object') return ROOT_CONTEXT;
  const clean: Carrier = {};
  for (const [key, value] of Object.entries(carrier)) if (typeof value === 'string') clean[key] = value;
  return propagation.extract(ROOT_CONTEXT, clean);
}

/** Links the active span to the origins (traceparents) of the requests that coalesced into its run, but its parent. */
export function linkOrigins(traceparents: string[], parentCarrier: unknown): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  const parentSpanId = trace.getSpanContext(contextFrom(parentCarrier))?.spanId;
  const links: Link[] = [];
  for (const traceparent of traceparents) {
    const origin = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, { traceparent }));
    if (origin && origin.spanId !== parentSpanId) links.push({ context: origin });
  }
  if (links.length > 0) span.addLinks(links);
}

/** Sets attributes on the active span, if one records (built only then). */
export function annotate(attributes: () => Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.setAttributes(attributes());
}
