// eyecandy serve [--host H] [--port N] [--model NAME|PATH] [--queue redis://HOST:PORT] ...
import { startServer, DEFAULTS } from '../server/app';
import { parseArgs, UsageError } from './args';

export const SERVE_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'number', short: 'p' },
  model: { type: 'string', short: 'm' },
  mirror: { type: 'string' },
  'cache-dir': { type: 'string' },
  backend: { type: 'string' },
  queue: { type: 'string' },
  'shared-dir': { type: 'string' },
  'queue-size': { type: 'number' },
  'job-timeout': { type: 'number' },
  'result-ttl': { type: 'number' },
  'max-upload-mb': { type: 'number' },
  'max-pixels': { type: 'number' },
  'api-key': { type: 'string', multiple: true },
  'cors-origin': { type: 'string' },
  'max-batch': { type: 'number' },
  'batch-delay-ms': { type: 'number' },
  grace: { type: 'number' },
  quiet: { type: 'boolean' },
} as const;

function positiveInt(name: string, v: unknown, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`eyecandy serve: --${name} expects an integer >= ${min} but received ${v}`);
  return v;
}

export async function runServe(argv: string[]): Promise<number> {
  const { positional, options: a } = parseArgs('serve', argv, SERVE_OPTIONS);
  if (positional.length) throw new UsageError(`eyecandy serve: unexpected argument '${positional[0]}'`);
  const backend = (a.backend as string | undefined) ?? 'cpu';
  if (!['cpu', 'cuda', 'auto'].includes(backend)) throw new UsageError(`eyecandy serve: --backend expects cpu, cuda or auto but received '${backend}'`);
  const apiKeys = [...((a['api-key'] as string[] | undefined) ?? []), ...(process.env.EYECANDY_API_KEYS ?? '').split(',').filter(Boolean)];
  const common = {
    model: (a.model as string | undefined) ?? 'vgg16',
    mirror: a.mirror as string | undefined,
    cacheDir: a['cache-dir'] as string | undefined,
    backend: backend as 'cpu',
  };
  const queue = a.queue as string | undefined;
  let backendFactory;
  if (queue !== undefined) {
    if (!/^rediss?:\/\//.test(queue)) throw new UsageError(`eyecandy serve: --queue expects redis://HOST:PORT but received '${queue}'`);
    const { redisBackend } = await import('../server/redis');
    backendFactory = redisBackend({
      url: queue,
      sharedDir: a['shared-dir'] as string | undefined,
      capacity: positiveInt('queue-size', a['queue-size'], DEFAULTS.queueCapacity),
      resultTtlMs: positiveInt('result-ttl', a['result-ttl'], DEFAULTS.resultTtlMs / 1000) * 1000,
    });
  }
  const server = await startServer({
    ...common,
    host: (a.host as string | undefined) ?? DEFAULTS.host,
    port: positiveInt('port', a.port, DEFAULTS.port, 0),
    queueCapacity: positiveInt('queue-size', a['queue-size'], DEFAULTS.queueCapacity),
    jobTimeoutMs: positiveInt('job-timeout', a['job-timeout'], DEFAULTS.jobTimeoutMs / 1000) * 1000,
    resultTtlMs: positiveInt('result-ttl', a['result-ttl'], DEFAULTS.resultTtlMs / 1000) * 1000,
    maxUploadBytes: positiveInt('max-upload-mb', a['max-upload-mb'], DEFAULTS.maxUploadBytes / 2 ** 20) * 2 ** 20,
    maxPixels: positiveInt('max-pixels', a['max-pixels'], DEFAULTS.maxPixels),
    apiKeys,
    corsOrigin: a['cors-origin'] as string | undefined,
    batch: {
      maxBatch: positiveInt('max-batch', a['max-batch'], DEFAULTS.batch.maxBatch),
      maxDelayMs: positiveInt('batch-delay-ms', a['batch-delay-ms'], DEFAULTS.batch.maxDelayMs, 0),
      capacity: DEFAULTS.batch.capacity,
    },
    graceMs: positiveInt('grace', a.grace, DEFAULTS.graceMs / 1000, 0) * 1000,
    logger: !a.quiet,
    backendFactory,
  });
  process.stdout.write(`eyecandy serve: listening on ${server.url} (model ${common.model}, ${queue ? `queue ${queue}` : 'embedded queue'})\n`);
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      process.stdout.write(`eyecandy serve: ${sig}: finishing running jobs, then closing\n`);
      server.close().then(
        () => resolve(0),
        (err) => {
          process.stderr.write(`eyecandy serve: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
