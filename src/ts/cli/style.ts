// eyecandy style (being written)
import { UsageError } from './args';

export async function runStyle(argv: string[]): Promise<number> {
  throw new UsageError('eyecandy style: not available yet');
}
