// serve --queue on a real redis-server (loopback, append-only file on, as a deployment runs it)
// with two `eyecandy worker` processes: one is SIGKILLed mid-job, then Redis itself is restarted
// mid-job; every job still completes exactly once, and the API node and the worker reconnect.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import sharp from 'sharp';

import { RunningServer, startServer } from '../../src/ts/server/app';
import { redisBackend } from '../../src/ts/server/redis';
import { form, json, modelOptions, photoBytes, readEvents, tmp, waitFor, removeTmp } from './helpers';

const cli = path.resolve(__dirname, '../../dist/cli/main.js');
const sharedDir = path.join(tmp, 'jobs');
const model = modelOptions;
let redis: ChildProcess;
let url: string;
let port: number;
const redisDir = path.join(tmp, 'redis');
const apiLog: string[] = [];
let server: RunningServer;
const workers: { proc: ChildProcess; readonly out: string[] }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

// Each worker has its own model cache: two processes filling one cache directory at once can
// read each other's half-written shard (the zoo's cache is safe within a process, not across).
function startWorkerProcess() {
  const proc = spawn(process.execPath, [cli, 'worker', '--queue', url, '--model', model.model, '--mirror', model.mirror, '--cache-dir', `${model.cacheDir}-worker${workers.length}`, '--shared-dir', sharedDir, '--lock-ms', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Lines of stdout and stderr (chunks may cut a line; lines are split from the whole text).
  let text = '';
  const w = { proc, get out() { return text.split('\n').filter(Boolean); } };
  proc.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  workers.push(w);
  return w;
}

// Persistence as a deployment would run the queue: the append-only file, fsynced every second
// (Redis's default for it), no RDB snapshots. A restart (SIGTERM, then a new server on the same
// directory) writes and reloads the whole queue; a crash could lose the last second of writes.
async function startRedisServer() {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'], { stdio: 'ignore' });
  await waitFor(async () => new Promise<true | undefined>((r) => net.connect(port, '127.0.0.1').on('connect', function (this: net.Socket) { this.destroy(); r(true); }).on('error', () => r(undefined))), 10_000);
}

beforeAll(async () => {
  execFileSync('redis-server', ['--version']);
  port = await freePort();
  fs.mkdirSync(redisDir, { recursive: true });
  url = `redis://127.0.0.1:${port}`;
  await startRedisServer();
  fs.mkdirSync(sharedDir, { recursive: true });
  server = await startServer({ ...model, port: 0, logger: false, preload: false, backendFactory: redisBackend({ url, sharedDir, capacity: 16, resultTtlMs: 60_000, log: (l) => apiLog.push(l) }) });
});

afterAll(async () => {
  await Promise.all(
    workers.map((w) => {
      w.proc.stdout!.destroy();
      w.proc.stderr!.destroy();
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) return undefined;
      const exited = new Promise((r) => w.proc.once('exit', r));
      w.proc.kill('SIGTERM');
      return exited;
    }),
  );
  await server?.close();
  redis?.kill('SIGKILL');
  removeTmp();
});

test('two workers, one killed mid-job: every job completes exactly once', async () => {
  const a = startWorkerProcess();
  const b = startWorkerProcess();
  await waitFor(async () => (a.out.some((l) => l.includes('taking jobs')) && b.out.some((l) => l.includes('taking jobs')) ? true : undefined), 30_000);
  const small = await sharp(photoBytes).resize(96, 72).jpeg().toBuffer();
  const ids: string[] = [];
  for (let i = 0; i < 4; ++i) {
    const res = await fetch(`${server.url}/v1/jobs`, { method: 'POST', body: form({ image: small, task: 'dream', options: { octaves: 1, steps: 6, jitter: 4, seed: i } }) });
    expect(res.status).toBe(202);
    ids.push((await json(res)).id);
  }
  // Progress of the first job reaches the API node through BullMQ's events.
  const firstEvents = readEvents(`${server.url}/v1/jobs/${ids[0]}/events`);
  const started = () => a.out.map((l) => /job (\S+) started/.exec(l)?.[1]).find(Boolean);
  const victim = await waitFor(async () => started(), 60_000);
  a.proc.kill('SIGKILL');
  for (const id of ids) {
    const state = await waitFor(async () => {
      const v = await json(await fetch(`${server.url}/v1/jobs/${id}`));
      return ['succeeded', 'failed', 'cancelled'].includes(v.state) ? [v.state, v.error] : undefined;
    }, 150_000);
    expect([id, ...state]).toEqual([id, 'succeeded', null]);
  }
  const ev = await firstEvents;
  expect(ev.at(-1)!.data.state).toBe('succeeded');
  expect(ev.some((e) => e.event === 'progress')).toBe(true);
  const lines = [...a.out, ...b.out];
  for (const id of ids) expect([id, lines.filter((l) => l.includes(`job ${id} succeeded`)).length]).toEqual([id, 1]);
  // The killed worker's job ran again on the other worker.
  expect(b.out.some((l) => l.includes(`job ${victim} started`))).toBe(true);
  expect(a.out.some((l) => l.includes(`job ${victim} succeeded`))).toBe(false);
  const r = await json(await fetch(`${server.url}/v1/jobs/${victim}/result`));
  const png = await fetch(`${server.url}${r.files['dream.png']}`);
  expect(await sharp(Buffer.from(await png.arrayBuffer())).metadata()).toMatchObject({ width: 96, height: 72 });
}, 240_000);

test('Redis restarted mid-job: every job completes exactly once; the API node and the worker reconnect', async () => {
  // The surviving worker of the test above, or a fresh one when this test runs alone.
  const b = workers.find((w) => w.proc.exitCode === null && w.proc.signalCode === null) ?? startWorkerProcess();
  await waitFor(async () => (b.out.some((l) => l.includes('taking jobs')) ? true : undefined), 30_000);
  const small = await sharp(photoBytes).resize(96, 72).jpeg().toBuffer();
  const submit = async (seed: number, steps: number) => {
    const res = await fetch(`${server.url}/v1/jobs`, { method: 'POST', body: form({ image: small, task: 'dream', options: { octaves: 1, steps, jitter: 4, seed } }) });
    expect(res.status).toBe(202);
    return (await json(res)).id as string;
  };
  const ids = [await submit(10, 40), await submit(11, 6), await submit(12, 6)];
  const events = readEvents(`${server.url}/v1/jobs/${ids[0]}/events`);
  await waitFor(async () => (b.out.some((l) => l.includes(`job ${ids[0]} started`)) ? true : undefined), 60_000);
  // The first job is running: restart Redis under it, down for longer than the job's lock
  // (--lock-ms 5000), so the lock has expired when Redis is back.
  const exited = new Promise((r) => redis.once('exit', r));
  redis.kill('SIGTERM');
  await exited;
  expect(b.out.filter((l) => l.includes(`job ${ids[0]} succeeded`))).toEqual([]);
  await new Promise((r) => setTimeout(r, Number(process.env.DOWN_MS ?? 6000)));
  await startRedisServer();
  for (const id of ids) {
    const state = await waitFor(async () => {
      const res = await fetch(`${server.url}/v1/jobs/${id}`).catch(() => undefined);
      if (!res || res.status !== 200) return undefined;
      const v = (await res.json()) as { state: string; error: unknown };
      return ['succeeded', 'failed', 'cancelled'].includes(v.state) ? [v.state, v.error] : undefined;
    }, 120_000);
    expect([id, ...state]).toEqual([id, 'succeeded', null]);
  }
  // The running job's event stream, opened before the restart, still ends with its outcome.
  const ev = await events;
  expect(ev.at(-1)!.data.state).toBe('succeeded');
  for (const id of ids) expect([id, b.out.filter((l) => l.includes(`job ${id} succeeded`)).length]).toEqual([id, 1]);
  // A job that ran twice did so because its lock expired during the outage, and says so.
  for (const id of ids) {
    const runs = b.out.filter((l) => l.includes(`job ${id} started`)).length;
    expect([id, runs <= 2, runs === 1 || b.out.some((l) => l.includes(`job ${id}: its lock expired while Redis was unreachable`))]).toEqual([id, true, true]);
  }
  // The outage is reported once and the reconnection too, on both sides, without a stack per retry.
  for (const lines of [apiLog, b.out]) {
    expect(lines.filter((l) => /redis: .*reconnecting/.test(l)).length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => /redis: connected again/.test(l)).length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => /Unhandled error event|^\s+at |ECONNREFUSED.*\{/.test(l))).toEqual([]);
  }
  // After the restart the API node takes new jobs and the worker runs them.
  const after = await submit(13, 2);
  const state = await waitFor(async () => {
    const v = await json(await fetch(`${server.url}/v1/jobs/${after}`));
    return ['succeeded', 'failed', 'cancelled'].includes(v.state) ? v.state : undefined;
  }, 60_000);
  expect(state).toBe('succeeded');
  expect(b.proc.exitCode).toBeNull();
}, 240_000);
