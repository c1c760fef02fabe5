// A model file given as a path or as its bytes, read the same way by every
// loader that takes bytes (ONNX, TFLite).
import { promises as fs } from 'fs';

import { invalidParameterError } from '../validate';

/**
 * [async] The bytes of `source` and the name errors should use for it (the path, else `label`,
 * else '<bytes>'). `format` starts the read error ('onnx: a.onnx: cannot read the file (ENOENT)');
 * `who` names the calling function in the error for a source of the wrong type.
 */
export async function readSource(format: string, who: string, source: string | Uint8Array, label?: string): Promise<[Uint8Array, string]> {
  if (typeof source === 'string') {
    try {
      return [await fs.readFile(source), source];
    } catch (err) {
      throw new Error(`${format}: ${source}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (source instanceof Uint8Array) return [source, label ?? '<bytes>'];
  throw invalidParameterError(who, 'source', 'a file path or Uint8Array', source);
}
