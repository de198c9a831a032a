import { Attributes, Span, SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('sync-machine', '0.1.0');

/** Attribute keys, in one place. */
export const ATTR = {
  machine: 'sync_machine.machine',
  subjectId: 'sync_machine.subject_id',
  entity: 'sync_machine.entity',
  entityId: 'sync_machine.entity_id',
  outcome: 'sync_machine.outcome',
  attempt: 'sync_machine.job.attempt',
} as const;

/**
 * Runs `fn` inside a span named `name`; records a thrown error and rethrows it.
 * With no SDK registered the tracer is the API's no-op one: no span is recorded.
 */
export async function traced<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
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
