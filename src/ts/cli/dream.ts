// eyecandy dream (being written)
import { UsageError } from './args';

export async function runDream(argv: string[]): Promise<number> {
  throw new UsageError('eyecandy dream: not available yet');
}
