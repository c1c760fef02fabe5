// The Redis backend's sweep of the shared directory, on a real redis-server: a finished job's
// folder (and the job) go once its result has expired, a folder with no job once it is older
// than the retention; queued jobs, recent folders and anything not named like a job stay.
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'bullmq';
import IORedis from 'ioredis';

import { Metrics } from '../../src/ts/server/metrics';
import { QUEUE, RedisBackend, redisBackend } from '../../src/ts/server/redis';
import { JobSpec, RunConfig } from '../../src/ts/server/tasks';
import { DeviceLock } from '../../src/ts/server/queue';
import { removeTmp, startRedis, tmp, waitFor } from './helpers';

const sharedDir = path.join(tmp, 'sweep');
const TTL = 60_000;
let redis: Awaited<ReturnType<typeof startRedis>>;
let backend: RedisBackend;

beforeAll(async () => {
  redis = await startRedis();
  fs.mkdirSync(sharedDir, { recursive: true });
  // sweepMs: an hour, so only the test's own sweep() calls run.
  backend = redisBackend({ url: redis.url, sharedDir, capacity: 8, resultTtlMs: TTL, sweepMs: 3_600_000 })(
    {} as RunConfig, {} as DeviceLock, new Metrics()) as RedisBackend;
});

afterAll(async () => {
  await backend?.close();
  redis?.stop();
  removeTmp();
});

const spec = { task: 'classify', options: {} } as unknown as JobSpec;
const inputs = { image: Buffer.from('not an image: the worker here does not read it'), styles: [] };
const exists = (name: string) => fs.existsSync(path.join(sharedDir, name));
function folder(name: string, ageMs: number): string {
  fs.mkdirSync(path.join(sharedDir, name, 'result'), { recursive: true });
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(path.join(sharedDir, name), t, t);
  return name;
}

test('sweep removes expired finished jobs and old orphan folders, and keeps the rest', async () => {
  // A worker that finishes each job at once with one result file, as eyecandy worker would.
  const conn = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const worker = new Worker(QUEUE, async (job) => {
    await fs.promises.mkdir(path.join(sharedDir, job.id!, 'result'), { recursive: true });
    await fs.promises.writeFile(path.join(sharedDir, job.id!, 'result', 'out.json'), '{}');
    return { result: { ok: true }, files: [{ name: 'out.json', type: 'application/json' }] };
  }, { connection: conn });
  const done = (await backend.submit(spec, inputs)).job.id;
  await waitFor(async () => ((await backend.get(done))?.state === 'succeeded' ? true : undefined), 20_000);
  await worker.close();
  conn.disconnect();
  const queued = (await backend.submit(spec, inputs)).job.id;
  folder(queued, 2 * TTL); // an old upload of a job that still waits: kept
  const oldOrphan = folder(randomUUID(), 2 * TTL);
  const newOrphan = folder(randomUUID(), 0);
  const notAJob = folder('backups', 2 * TTL);

  // Now: only the old orphan has outlived the retention.
  expect(await backend.sweep()).toEqual([oldOrphan]);
  expect((await backend.file(done, 'out.json'))?.data.toString()).toBe('{}');
  expect([exists(done), exists(queued), exists(oldOrphan), exists(newOrphan), exists(notAJob)]).toEqual([true, true, false, true, true]);

  // Past the retention: the finished job goes with its folder, and the then old new orphan.
  expect((await backend.sweep(Date.now() + TTL + 1000)).sort()).toEqual([done, newOrphan].sort());
  expect(await backend.get(done)).toBeUndefined();
  expect(await backend.file(done, 'out.json')).toBeUndefined();
  expect((await backend.get(queued))?.state).toBe('queued');
  expect([exists(done), exists(queued), exists(newOrphan), exists(notAJob)]).toEqual([false, true, false, true]);
}, 60_000);
