import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

/**
 * Runs `work`, and with a `file` writes a CPU profile of it there. Shared by the profile scripts.
 */
export async function profiled<T>(file: string | undefined, work: () => Promise<T>): Promise<T> {
  if (!file) return work();
  const session = new Session();
  session.connect();
  // PROFILE_HEAP=1: where the memory is allocated (sampled) instead of where the time goes.
  const heap = process.env.PROFILE_HEAP === '1';
  if (heap) {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  } else {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }
  try {
    return await work();
  } finally {
    const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}
