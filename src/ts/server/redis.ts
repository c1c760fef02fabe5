// The Redis queue (BullMQ): see serve --queue and eyecandy worker.
import { Backend } from './backend';
import { Metrics } from './metrics';
import { DeviceLock } from './queue';
import { RunConfig } from './tasks';

export interface RedisOptions {
  url: string;
  sharedDir?: string;
  capacity: number;
  resultTtlMs: number;
}

export function redisBackend(o: RedisOptions): (run: RunConfig, device: DeviceLock, metrics: Metrics) => Backend {
  throw new Error(`eyecandy serve: --queue ${o.url}: the Redis queue is not available in this build`);
}
