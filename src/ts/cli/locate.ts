// eyecandy locate (being written)
import { UsageError } from './args';

export async function runLocate(argv: string[]): Promise<number> {
  throw new UsageError('eyecandy locate: not available yet');
}
