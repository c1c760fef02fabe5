// eyecandy worker --queue redis://HOST:PORT [--model NAME|PATH] [--shared-dir DIR]
import { parseArgs, UsageError } from './args';

export async function runWorker(argv: string[]): Promise<number> {
  const { options } = parseArgs('worker', argv, { queue: { type: 'string' }, model: { type: 'string' }, mirror: { type: 'string' }, 'cache-dir': { type: 'string' }, 'shared-dir': { type: 'string' } });
  if (!options.queue) throw new UsageError('eyecandy worker: --queue redis://HOST:PORT is required');
  throw new Error('eyecandy worker: the Redis queue is not available in this build');
}
