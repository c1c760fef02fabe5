// The Redis queue (BullMQ): API nodes (serve --queue) enqueue, workers (eyecandy worker) take
// jobs one at a time each. Job options, state, progress and small results (the JSON) live in
// Redis; uploaded images and result images live in a shared directory every node mounts
// (--shared-dir; default a folder under the system temp dir, which is enough for one machine).
// Progress reaches the API node through BullMQ's queue events; cancel goes to the workers over
// a Redis channel and aborts the task's signal. A worker that dies mid-job loses its lock; the
// job is moved back to the queue (BullMQ's stalled check) and runs on another worker, once.
// API nodes sweep the shared directory: a finished job's folder goes (with the job) once its
// result has expired, and a folder with no job behind it once it is older than the retention.
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { randomUUID } from 'crypto';
import * as fs from 'fs/promises';
import * as os from 'os';
import * as path from 'path';

import { Backend, JobState, JobView, StreamEvent } from './backend';
import { HttpError } from './errors';
import { Metrics } from './metrics';
import { DeviceLock } from './queue';
import { JobInputs, JobSpec, RunConfig, runJob } from './tasks';

export const QUEUE = 'eyecandy-jobs';
const CANCEL = 'eyecandy:cancel';

export interface RedisOptions {
  url: string;
  sharedDir?: string;
  capacity: number;
  resultTtlMs: number;
  /** Milliseconds between sweeps of the shared directory. Default: resultTtlMs / 10, from 1 s to 5 min. */
  sweepMs?: number;
  /** Where a lost and a regained Redis connection are reported. Default: stderr. */
  log?: (line: string) => void;
}

/** Job folders are named by the job id (randomUUID); nothing else in the shared directory is swept. */
const JOB_DIR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface JobData {
  spec: JobSpec;
  styles: number;
  idempotencyKey?: string;
}

interface JobReturn {
  result: object;
  files: { name: string; type: string }[];
}

export function sharedDirOf(dir?: string): string {
  return path.resolve(dir ?? path.join(os.tmpdir(), 'eyecandy-shared'));
}

function connect(url: string): IORedis {
  return new IORedis(url, { maxRetriesPerRequest: null });
}

/**
 * While Redis is down (restarted, unreachable) every connection and BullMQ object reports an
 * error on each reconnect attempt; with no listener each of those prints a stack. This logs one
 * line when the first error comes and one when a connection is ready again. Commands wait
 * meanwhile (maxRetriesPerRequest: null) and run once Redis is back.
 */
class Outage {
  private down = false;
  constructor(private log: (line: string) => void) {}
  watch(conns: IORedis[], emitters: { on(event: 'error', f: (err: Error) => void): unknown }[]): void {
    for (const c of conns) {
      c.on('error', (err: Error) => this.error(err));
      c.on('ready', () => this.ready());
    }
    for (const e of emitters) e.on('error', (err: Error) => this.error(err));
  }
  error(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.log(`redis: ${err.message}; reconnecting (jobs wait meanwhile)`);
  }
  private ready(): void {
    if (!this.down) return;
    this.down = false;
    this.log('redis: connected again');
  }
}

export function redisBackend(o: RedisOptions) {
  return (run: RunConfig, device: DeviceLock, metrics: Metrics): Backend => new RedisBackend(o, metrics);
}

export class RedisBackend implements Backend {
  private conn: IORedis;
  private queue: Queue;
  private events: QueueEvents;
  private eventsConn: IORedis;
  private dir: string;
  private logs = new Map<string, { events: StreamEvent[]; listeners: Set<(e: StreamEvent) => void> }>();
  private closing = false;
  private sweepTimer: NodeJS.Timeout;
  private sweeping: Promise<string[]> | undefined;

  constructor(
    private o: RedisOptions,
    private metrics: Metrics,
  ) {
    this.conn = connect(o.url);
    this.queue = new Queue(QUEUE, { connection: this.conn });
    this.eventsConn = connect(o.url);
    this.events = new QueueEvents(QUEUE, { connection: this.eventsConn });
    this.dir = sharedDirOf(o.sharedDir);
    new Outage(o.log ?? ((line) => process.stderr.write(`eyecandy serve: ${line}\n`))).watch([this.conn, this.eventsConn], [this.queue, this.events]);
    this.events.on('active', ({ jobId }) => this.push(jobId, 'state', { state: 'running' }));
    this.events.on('progress', ({ jobId, data }) => {
      const e = data as unknown as { type: StreamEvent['type']; data: Record<string, unknown> };
      if (e && typeof e === 'object' && e.type) this.push(jobId, e.type, e.data);
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as JobReturn;
      this.push(jobId, 'done', { state: 'succeeded', error: null, files: r.files.map((f) => f.name) });
    });
    this.events.on('failed', ({ jobId, failedReason }) => void this.failed(jobId, failedReason));
    const sweepMs = o.sweepMs ?? Math.min(300_000, Math.max(1000, Math.floor(o.resultTtlMs / 10)));
    this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), sweepMs);
    this.sweepTimer.unref();
  }

  /**
   * One pass over the shared directory; returns the job ids whose folders it removed. A folder
   * goes when its job finished more than resultTtlMs ago (the job is removed from Redis first,
   * so its result reads as expired, never as a job without files), or when no job has its id
   * and the folder is older than resultTtlMs (a job already removed by BullMQ's age limit, or an
   * upload whose job was never added). Queued and running jobs keep theirs, however old.
   */
  sweep(now = Date.now()): Promise<string[]> {
    this.sweeping ??= this.sweepOnce(now).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(now: number): Promise<string[]> {
    const removed: string[] = [];
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const id of names) {
      if (this.closing) break;
      if (!JOB_DIR.test(id)) continue;
      const dir = path.join(this.dir, id);
      const job = await this.queue.getJob(id);
      if (job) {
        if (!job.finishedOn || job.finishedOn + this.o.resultTtlMs > now) continue;
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') continue; // retried: running again
        await job.remove().catch(() => undefined);
      } else {
        const st = await fs.stat(dir).catch(() => undefined);
        if (!st || st.mtimeMs + this.o.resultTtlMs > now) continue;
        // submit() writes the folder before it adds the job: look once more.
        if (await this.queue.getJob(id)) continue;
      }
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(id);
    }
    return removed;
  }

  private async failed(id: string, reason: string) {
    const job = await this.queue.getJob(id);
    // A job that will be retried is not finished.
    if (job && (await job.getState()) !== 'failed') return;
    const v = job && (await this.view(job));
    this.push(id, 'done', { state: v?.state ?? 'failed', error: v?.error ?? { code: 'task_failed', message: reason }, files: [] });
  }

  private log(id: string) {
    let l = this.logs.get(id);
    if (!l) this.logs.set(id, (l = { events: [], listeners: new Set() }));
    return l;
  }

  private push(id: string, type: StreamEvent['type'], data: Record<string, unknown>) {
    const l = this.log(id);
    if (l.events.at(-1)?.type === 'done') return;
    const e = { seq: l.events.length + 1, type, data };
    l.events.push(e);
    for (const f of l.listeners) f(e);
    if (type === 'done') {
      l.listeners.clear();
      setTimeout(() => this.logs.delete(id), this.o.resultTtlMs).unref();
    }
  }

  async submit(spec: JobSpec, inputs: JobInputs, idempotencyKey?: string) {
    if (this.closing) throw new HttpError(503, 'shutting_down', 'the server is shutting down and takes no new jobs');
    const id = randomUUID();
    if (idempotencyKey !== undefined) {
      const ok = await this.conn.set(`eyecandy:idem:${idempotencyKey}`, id, 'PX', this.o.resultTtlMs, 'NX');
      if (!ok) {
        const known = await this.conn.get(`eyecandy:idem:${idempotencyKey}`);
        const job = known ? await this.queue.getJob(known) : undefined;
        if (job) {
          if (JSON.stringify((job.data as JobData).spec) !== JSON.stringify(spec))
            throw new HttpError(409, 'idempotency_conflict', `Idempotency-Key '${idempotencyKey}' was used for a different job (${job.id})`);
          return { job: (await this.view(job))!, created: false };
        }
      }
    }
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed');
    const waiting = counts.waiting + counts.prioritized + counts.delayed;
    if (waiting >= this.o.capacity) {
      metrics_(this.metrics, waiting);
      throw new HttpError(429, 'queue_full', `the queue is full (${waiting} jobs waiting, at most ${this.o.capacity}); retry in about 5 s`, { 'retry-after': '5' });
    }
    const dir = path.join(this.dir, id);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'image'), inputs.image);
    await Promise.all(inputs.styles.map((s, i) => fs.writeFile(path.join(dir, `style-${i}`), s)));
    this.push(id, 'state', { state: 'queued' });
    const ttl = Math.ceil(this.o.resultTtlMs / 1000);
    const job = await this.queue.add(spec.task, { spec, styles: inputs.styles.length, idempotencyKey } satisfies JobData, {
      jobId: id,
      attempts: 1,
      removeOnComplete: { age: ttl },
      removeOnFail: { age: ttl },
    });
    return { job: (await this.view(job))!, created: true };
  }

  private async view(job: Job): Promise<JobView | undefined> {
    const s = await job.getState();
    const rv = job.returnvalue as JobReturn | null;
    let state: JobState = s === 'active' ? 'running' : s === 'completed' ? 'succeeded' : s === 'failed' ? 'failed' : 'queued';
    let error: JobView['error'] = null;
    if (state === 'failed') {
      const reason = job.failedReason ?? '';
      if (/^(cancelled|shutdown)/.test(reason)) state = 'cancelled';
      error = { code: reason.startsWith('cancelled') ? 'cancelled' : reason.startsWith('timeout') ? 'timeout' : 'task_failed', message: reason };
    }
    const iso = (t?: number | null) => (t ? new Date(t).toISOString() : null);
    const progress = (job.progress && typeof job.progress === 'object' ? (job.progress as { data?: Record<string, unknown> }).data : null) ?? null;
    return {
      id: job.id!,
      task: (job.data as JobData).spec.task,
      state,
      progress,
      createdAt: iso(job.timestamp)!,
      startedAt: iso(job.processedOn),
      finishedAt: iso(job.finishedOn),
      timings: { waitMs: job.processedOn ? job.processedOn - job.timestamp : null, runMs: job.processedOn ? (job.finishedOn ?? Date.now()) - job.processedOn : null },
      error,
      files: state === 'succeeded' && rv ? rv.files.map((f) => f.name) : [],
      expiresAt: job.finishedOn ? iso(job.finishedOn + this.o.resultTtlMs) : null,
    };
  }

  async get(id: string) {
    const job = await this.queue.getJob(id);
    return job ? this.view(job) : undefined;
  }

  async result(id: string) {
    const job = await this.queue.getJob(id);
    return (job?.returnvalue as JobReturn | undefined)?.result;
  }

  async file(id: string, name: string) {
    const job = await this.queue.getJob(id);
    const f = (job?.returnvalue as JobReturn | undefined)?.files.find((x) => x.name === name);
    if (!f) return undefined;
    try {
      return { type: f.type, data: await fs.readFile(path.join(this.dir, id, 'result', f.name)) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // swept just now
      throw err;
    }
  }

  async cancel(id: string) {
    const job = await this.queue.getJob(id);
    if (!job) return undefined;
    const s = await job.getState();
    if (s === 'waiting' || s === 'delayed' || s === 'prioritized') {
      try {
        await job.moveToFailed(new Error('cancelled by request'), '0', false);
      } catch {
        await job.remove().catch(() => undefined);
      }
      this.push(id, 'done', { state: 'cancelled', error: { code: 'cancelled', message: 'cancelled by request' }, files: [] });
    } else if (s === 'active') {
      await this.conn.publish(CANCEL, id);
      for (let i = 0; i < 200 && (await job.getState().catch(() => 'unknown')) === 'active'; ++i) await new Promise((r) => setTimeout(r, 50));
    }
    return this.get(id);
  }

  async subscribe(id: string, after: number, on: (e: StreamEvent) => void) {
    const v = await this.get(id);
    if (!v && !this.logs.has(id)) return undefined;
    const l = this.log(id);
    if (v && ['succeeded', 'failed', 'cancelled'].includes(v.state) && l.events.at(-1)?.type !== 'done')
      this.push(id, 'done', { state: v.state, error: v.error, files: v.files });
    for (const e of l.events) if (e.seq > after) on(e);
    if (l.events.at(-1)?.type === 'done') return () => undefined;
    l.listeners.add(on);
    return () => l.listeners.delete(on);
  }

  async depth() {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    return { waiting: c.waiting + c.prioritized + c.delayed, running: c.active, capacity: this.o.capacity };
  }

  /** An API node runs nothing itself: it stops taking jobs; workers finish theirs. */
  async close() {
    this.closing = true;
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    // The events connection sits in a blocking read: drop it rather than wait the read out.
    this.eventsConn.disconnect();
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    this.conn.disconnect();
  }
}

function metrics_(m: Metrics, waiting: number) {
  m.queueDepth.set(waiting);
}

export interface WorkerOptions {
  url: string;
  sharedDir?: string;
  run: RunConfig;
  jobTimeoutMs: number;
  /** How long a job's lock lasts without renewal (a dead worker's job is retried after about this). */
  lockMs?: number;
  log?: (line: string) => void;
}

/** Takes jobs one at a time until closed; close(graceMs) lets the running job finish, then hands it back. */
export async function startWorker(o: WorkerOptions): Promise<{ close(graceMs: number): Promise<void> }> {
  const dir = sharedDirOf(o.sharedDir);
  const sub = connect(o.url);
  const log = o.log ?? (() => undefined);
  const lockDuration = o.lockMs ?? 30_000;
  const workerConn = connect(o.url);
  const worker = new Worker(
    QUEUE,
    async (job: Job, _token?: string, signal?: AbortSignal) => {
      const data = job.data as JobData;
      const jobDir = path.join(dir, job.id!);
      const inputs: JobInputs = {
        image: await fs.readFile(path.join(jobDir, 'image')),
        styles: await Promise.all(Array.from({ length: data.styles }, (_, i) => fs.readFile(path.join(jobDir, `style-${i}`)))),
      };
      log(`job ${job.id} started (${data.spec.task}, attempt ${job.attemptsStarted ?? 1})`);
      const controller = new AbortController();
      signal?.addEventListener('abort', () => controller.abort(signal.reason));
      const timer = setTimeout(() => controller.abort(new Error('timeout')), o.jobTimeoutMs);
      let pending: Promise<unknown> = Promise.resolve();
      try {
        const out = await runJob(data.spec, inputs, o.run, controller.signal, (e) => {
          pending = pending.then(() => job.updateProgress(e as unknown as object)).catch(() => undefined);
        });
        await pending;
        await fs.mkdir(path.join(jobDir, 'result'), { recursive: true });
        for (const [name, f] of Object.entries(out.files)) await fs.writeFile(path.join(jobDir, 'result', name), f.data);
        return { result: out.result, files: Object.entries(out.files).map(([name, f]) => ({ name, type: f.type })) } satisfies JobReturn;
      } catch (err) {
        if (controller.signal.aborted) {
          const why = String((controller.signal.reason as Error)?.message ?? controller.signal.reason);
          throw new Error(why.startsWith('timeout') ? `timeout: the job ran past the time limit of ${o.jobTimeoutMs / 1000} s` : 'cancelled by request');
        }
        throw err;
      } finally {
        clearTimeout(timer);
      }
    },
    { connection: workerConn, concurrency: 1, lockDuration, stalledInterval: Math.max(500, Math.floor(lockDuration / 2)), maxStalledCount: 1 },
  );
  // Logged once BullMQ has recorded the completion: a worker whose lock was lost (it stalled and
  // the job went to another) cannot complete it too.
  worker.on('completed', (job) => log(`job ${job.id} succeeded`));
  worker.on('failed', (job, err) => log(`job ${job?.id} failed: ${err.message}`));
  // Connection errors while Redis is down: one line per outage. A job whose lock expired
  // meanwhile cannot be completed by this run (BullMQ refuses, "Missing lock"); the stalled
  // check has put it back and it runs again, so it still completes once.
  const outage = new Outage(log);
  outage.watch([sub, workerConn], []);
  const relost = new Set<string>();
  worker.on('error', (err: Error) => {
    const lost = /^Missing lock for job (\S+?)\.? /.exec(err.message);
    if (lost) {
      if (!relost.has(lost[1])) relost.add(lost[1]), log(`${err.message.replace(/\.? ?moveTo\w+$/, '')}: its lock expired while Redis was unreachable; it runs again`);
    } else outage.error(err);
  });
  await sub.subscribe(CANCEL);
  sub.on('message', (_ch, id: string) => worker.cancelJob(id, 'cancelled'));
  await worker.waitUntilReady();
  return {
    async close(graceMs: number) {
      const t = setTimeout(() => worker.cancelAllJobs('shutdown'), graceMs);
      await worker.close();
      clearTimeout(t);
      sub.disconnect();
      workerConn.disconnect();
    },
  };
}
