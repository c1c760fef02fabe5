// eyecandy worker --queue redis://HOST:PORT [--model NAME|PATH] [--shared-dir DIR] ...
// Takes jobs from the Redis queue that `eyecandy serve --queue` fills, one at a time.
import { DEFAULTS } from '../server/app';
import { startWorker } from '../server/redis';
import { parseArgs, UsageError } from './args';

export async function runWorker(argv: string[]): Promise<number> {
  const { positional, options: a } = parseArgs('worker', argv, {
    queue: { type: 'string' },
    model: { type: 'string', short: 'm' },
    mirror: { type: 'string' },
    'cache-dir': { type: 'string' },
    'shared-dir': { type: 'string' },
    backend: { type: 'string' },
    'job-timeout': { type: 'number' },
    'max-pixels': { type: 'number' },
    'lock-ms': { type: 'number' },
    grace: { type: 'number' },
  });
  if (positional.length) throw new UsageError(`eyecandy worker: unexpected argument '${positional[0]}'`);
  const queue = a.queue as string | undefined;
  if (!queue || !/^rediss?:\/\//.test(queue)) throw new UsageError(`eyecandy worker: --queue redis://HOST:PORT is required`);
  const backend = (a.backend as string | undefined) ?? 'cpu';
  if (!['cpu', 'cuda', 'auto'].includes(backend)) throw new UsageError(`eyecandy worker: --backend expects cpu, cuda or auto but received '${backend}'`);
  const model = (a.model as string | undefined) ?? 'vgg16';
  const w = await startWorker({
    url: queue,
    sharedDir: a['shared-dir'] as string | undefined,
    run: { model, mirror: a.mirror as string | undefined, cacheDir: a['cache-dir'] as string | undefined, backend: backend as 'cpu', maxPixels: (a['max-pixels'] as number | undefined) ?? DEFAULTS.maxPixels },
    jobTimeoutMs: ((a['job-timeout'] as number | undefined) ?? DEFAULTS.jobTimeoutMs / 1000) * 1000,
    lockMs: a['lock-ms'] as number | undefined,
    log: (line) => process.stdout.write(`eyecandy worker ${process.pid}: ${line}\n`),
  });
  process.stdout.write(`eyecandy worker ${process.pid}: taking jobs from ${queue} (model ${model})\n`);
  return new Promise<number>((resolve) => {
    const stop = () => w.close(((a.grace as number | undefined) ?? DEFAULTS.graceMs / 1000) * 1000).then(() => resolve(0), () => resolve(1));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
