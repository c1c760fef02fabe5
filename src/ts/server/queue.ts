// The embedded queue: jobs wait in process memory and run one at a time per backend device
// (the device lock is shared with batched classify), so the CPU's threads are never split
// between two renders. A full queue refuses with 429 and Retry-After.
import { randomUUID } from 'crypto';

import { Backend, FINAL, JobState, JobView, StreamEvent } from './backend';
import { HttpError } from './errors';
import { Metrics } from './metrics';
import { JobInputs, JobOutput, JobSpec, RunConfig, runJob } from './tasks';

/** Runs work one piece at a time, in the order it was asked for. */
export class DeviceLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.tail.then(f);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

export interface QueueOptions {
  /** Jobs that may wait (not counting the one running). */
  capacity: number;
  jobTimeoutMs: number;
  resultTtlMs: number;
  run: RunConfig;
}

interface Job {
  view: JobView;
  spec: JobSpec;
  inputs?: JobInputs;
  created: number;
  started?: number;
  controller: AbortController;
  abortCode?: 'cancelled' | 'timeout' | 'shutdown';
  events: StreamEvent[];
  listeners: Set<(e: StreamEvent) => void>;
  output?: JobOutput;
  idempotencyKey?: string;
  done: Promise<void>;
  resolveDone: () => void;
}

export class LocalQueue implements Backend {
  private jobs = new Map<string, Job>();
  private byKey = new Map<string, string>();
  private waiting = 0;
  private running = 0;
  private closing = false;
  private meanRunSeconds = 5;

  constructor(
    private o: QueueOptions,
    private device: DeviceLock,
    private metrics: Metrics,
  ) {}

  async submit(spec: JobSpec, inputs: JobInputs, idempotencyKey?: string) {
    if (idempotencyKey !== undefined) {
      const known = this.byKey.get(idempotencyKey);
      const job = known && this.jobs.get(known);
      if (job) {
        if (job.spec.task !== spec.task || JSON.stringify(job.spec.options) !== JSON.stringify(spec.options))
          throw new HttpError(409, 'idempotency_conflict', `Idempotency-Key '${idempotencyKey}' was used for a different job (${job.view.id})`);
        return { job: this.snapshot(job), created: false };
      }
    }
    if (this.closing) throw new HttpError(503, 'shutting_down', 'the server is shutting down and takes no new jobs');
    if (this.waiting >= this.o.capacity) {
      const retry = Math.max(1, Math.ceil(((this.waiting + this.running) * this.meanRunSeconds)));
      throw new HttpError(429, 'queue_full', `the queue is full (${this.waiting} jobs waiting, at most ${this.o.capacity}); retry in about ${retry} s`, {
        'retry-after': String(retry),
      });
    }
    const id = randomUUID();
    const now = Date.now();
    let resolveDone!: () => void;
    const job: Job = {
      view: {
        id, task: spec.task, state: 'queued', progress: null, createdAt: new Date(now).toISOString(), startedAt: null, finishedAt: null,
        timings: { waitMs: null, runMs: null }, error: null, files: [], expiresAt: null,
      },
      spec, inputs, created: now, controller: new AbortController(), events: [], listeners: new Set(), idempotencyKey,
      done: new Promise((r) => (resolveDone = r)), resolveDone,
    };
    job.resolveDone = resolveDone;
    this.jobs.set(id, job);
    if (idempotencyKey !== undefined) this.byKey.set(idempotencyKey, id);
    this.waiting++;
    this.metrics.queueDepth.set(this.waiting);
    this.emit(job, 'state', { state: 'queued' });
    void this.device.run(() => this.execute(job));
    return { job: this.snapshot(job), created: true };
  }

  private emit(job: Job, type: StreamEvent['type'], data: Record<string, unknown>) {
    const e = { seq: job.events.length + 1, type, data };
    job.events.push(e);
    for (const l of job.listeners) l(e);
  }

  private async execute(job: Job): Promise<void> {
    this.waiting--;
    this.metrics.queueDepth.set(this.waiting);
    if (job.view.state !== 'queued') return; // cancelled while waiting
    this.running++;
    this.metrics.running.set(this.running);
    job.started = Date.now();
    job.view.state = 'running';
    job.view.startedAt = new Date(job.started).toISOString();
    job.view.timings.waitMs = job.started - job.created;
    this.metrics.wait.observe({ task: job.spec.task }, (job.started - job.created) / 1000);
    this.emit(job, 'state', { state: 'running' });
    const timer = setTimeout(() => this.abort(job, 'timeout'), this.o.jobTimeoutMs);
    let state: JobState;
    try {
      job.output = await runJob(job.spec, job.inputs!, this.o.run, job.controller.signal, (e) => {
        if (e.type === 'progress') job.view.progress = e.data;
        this.emit(job, e.type, e.data);
      });
      if (job.abortCode) throw new Error('aborted');
      state = 'succeeded';
      job.view.files = Object.keys(job.output.files);
    } catch (err) {
      job.output = undefined;
      if (job.abortCode === 'timeout') {
        state = 'failed';
        job.view.error = { code: 'timeout', message: `the job ran past the time limit of ${this.o.jobTimeoutMs / 1000} s` };
      } else if (job.abortCode) {
        state = 'cancelled';
        job.view.error = { code: job.abortCode, message: job.abortCode === 'shutdown' ? 'the server shut down before the job finished' : 'cancelled by request' };
      } else {
        state = 'failed';
        job.view.error = { code: 'task_failed', message: (err as Error).message };
      }
    } finally {
      clearTimeout(timer);
      this.running--;
      this.metrics.running.set(this.running);
    }
    const runMs = Date.now() - job.started;
    this.meanRunSeconds = 0.7 * this.meanRunSeconds + 0.3 * (runMs / 1000);
    this.metrics.run.observe({ task: job.spec.task }, runMs / 1000);
    this.finish(job, state);
  }

  private abort(job: Job, code: 'cancelled' | 'timeout' | 'shutdown') {
    if (job.abortCode) return;
    job.abortCode = code;
    job.controller.abort(new Error(code));
  }

  private finish(job: Job, state: JobState) {
    const now = Date.now();
    job.inputs = undefined;
    job.view.state = state;
    job.view.finishedAt = new Date(now).toISOString();
    if (job.started) job.view.timings.runMs = now - job.started;
    job.view.expiresAt = new Date(now + this.o.resultTtlMs).toISOString();
    this.metrics.jobs.inc({ task: job.spec.task, state });
    this.emit(job, 'done', { state, error: job.view.error, files: job.view.files });
    job.listeners.clear();
    job.resolveDone();
    setTimeout(() => {
      this.jobs.delete(job.view.id);
      if (job.idempotencyKey !== undefined && this.byKey.get(job.idempotencyKey) === job.view.id) this.byKey.delete(job.idempotencyKey);
    }, this.o.resultTtlMs).unref();
  }

  private snapshot(job: Job): JobView {
    const v = structuredClone(job.view);
    if (v.state === 'running' && job.started) v.timings.runMs = Date.now() - job.started;
    return v;
  }

  async get(id: string) {
    const job = this.jobs.get(id);
    return job && this.snapshot(job);
  }

  async result(id: string) {
    return this.jobs.get(id)?.output?.result;
  }

  async file(id: string, name: string) {
    return this.jobs.get(id)?.output?.files[name];
  }

  async cancel(id: string) {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    if (job.view.state === 'queued') {
      job.abortCode = 'cancelled';
      job.view.error = { code: 'cancelled', message: 'cancelled by request' };
      this.finish(job, 'cancelled');
    } else if (job.view.state === 'running') {
      this.abort(job, 'cancelled');
      await job.done;
    }
    return this.snapshot(job);
  }

  async subscribe(id: string, after: number, on: (e: StreamEvent) => void) {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    for (const e of job.events) if (e.seq > after) on(e);
    if (FINAL.includes(job.view.state)) return () => undefined;
    job.listeners.add(on);
    return () => job.listeners.delete(on);
  }

  async depth() {
    return { waiting: this.waiting, running: this.running, capacity: this.o.capacity };
  }

  /** Takes no new jobs, cancels those waiting, lets the running one finish within graceMs, then aborts it. */
  async close(graceMs: number) {
    this.closing = true;
    const open = [...this.jobs.values()].filter((j) => !FINAL.includes(j.view.state));
    for (const j of open)
      if (j.view.state === 'queued') {
        j.abortCode = 'shutdown';
        j.view.error = { code: 'shutdown', message: 'the server shut down before the job started' };
        this.finish(j, 'cancelled');
      }
    const running = open.filter((j) => j.view.state === 'running');
    const all = Promise.all(running.map((j) => j.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const j of running) this.abort(j, 'shutdown');
    await all;
  }
}
