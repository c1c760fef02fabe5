// What the HTTP layer needs from a job queue; the embedded queue (queue.ts) and the
// Redis one (redis.ts) both provide it.
import { JobInputs, JobSpec, TaskName } from './tasks';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINAL: JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobView {
  id: string;
  task: TaskName;
  state: JobState;
  /** The last progress report (stage or step counts and `fraction` 0..1), null before any. */
  progress: Record<string, unknown> | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Milliseconds queued and running (so far, while it runs). */
  timings: { waitMs: number | null; runMs: number | null };
  error: { code: string; message: string } | null;
  /** Names of the result files (GET /v1/jobs/:id/result/:name). */
  files: string[];
  /** When the result is forgotten. */
  expiresAt: string | null;
}

/** One Server-Sent Event: `state` (queued, running), `progress`, `image`, then one final `done`. */
export interface StreamEvent {
  seq: number;
  type: 'state' | 'progress' | 'image' | 'done';
  data: Record<string, unknown>;
}

export interface Backend {
  /** Queues a checked job; an idempotency key already seen gives that job back (created false). Throws HttpError 429/503. */
  submit(spec: JobSpec, inputs: JobInputs, idempotencyKey?: string): Promise<{ job: JobView; created: boolean }>;
  get(id: string): Promise<JobView | undefined>;
  result(id: string): Promise<object | undefined>;
  file(id: string, name: string): Promise<{ type: string; data: Buffer } | undefined>;
  cancel(id: string): Promise<JobView | undefined>;
  /** Every event from `after` on (replayed, then live) until `done`; returns an unsubscribe. */
  subscribe(id: string, after: number, on: (e: StreamEvent) => void): Promise<(() => void) | undefined>;
  /** Jobs waiting, and the most that may wait. */
  depth(): Promise<{ waiting: number; running: number; capacity: number }>;
  /** Stop taking jobs; let running ones finish for graceMs, then abort them (embedded) or hand them back (Redis). */
  close(graceMs: number): Promise<void>;
}
