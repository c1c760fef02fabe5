// Prometheus metrics (prom-client), one registry per server.
import * as client from 'prom-client';

import { gpuMemory, memoryInUse } from './native-memory';

export class Metrics {
  readonly registry = new client.Registry();
  readonly queueDepth = new client.Gauge({ name: 'eyecandy_queue_depth', help: 'Jobs waiting in the queue', registers: [this.registry] });
  readonly running = new client.Gauge({ name: 'eyecandy_jobs_running', help: 'Jobs running', registers: [this.registry] });
  readonly wait = new client.Histogram({
    name: 'eyecandy_job_wait_seconds', help: 'Time from submit to start, per task', labelNames: ['task'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  readonly run = new client.Histogram({
    name: 'eyecandy_job_run_seconds', help: 'Run time, per task', labelNames: ['task'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  readonly jobs = new client.Counter({ name: 'eyecandy_jobs_total', help: 'Jobs finished, per task and final state', labelNames: ['task', 'state'], registers: [this.registry] });
  readonly batch = new client.Histogram({ name: 'eyecandy_batch_size', help: 'Images per batched classify forward', buckets: [1, 2, 4, 8, 16, 32], registers: [this.registry] });
  readonly rejections = new client.Counter({ name: 'eyecandy_rejections_total', help: 'Requests refused, per reason (error code)', labelNames: ['code'], registers: [this.registry] });
  readonly nativeMemory = new client.Gauge({
    name: 'eyecandy_native_memory_bytes', help: 'Native tensor memory: retained by live tensors, and held in the pool', labelNames: ['kind'], registers: [this.registry],
    collect() {
      const m = memoryInUse();
      if (!m) return;
      this.set({ kind: 'retained' }, m.retained);
      this.set({ kind: 'pool' }, m.pool);
    },
  });
  readonly gpuMemory = new client.Gauge({
    name: 'eyecandy_gpu_memory_bytes', help: 'GPU memory, total and free (when a CUDA device answers)', labelNames: ['kind'], registers: [this.registry],
    collect() {
      const g = gpuMemory();
      if (!g) return;
      this.set({ kind: 'total' }, g.total);
      this.set({ kind: 'free' }, g.free);
    },
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'eyecandy_' });
  }
}
