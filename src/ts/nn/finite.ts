// NaN and ±Infinity entering a network (through its inputs or its weights) are
// refused with the place of the first one, unless the caller opts out
// (allowNonFinite): a NaN pixel or weight would otherwise spread through every
// layer and come out as a garbage result with no error.
import { norm1 } from '../linalg';
import { Tensor } from '../tensor';

/** The first non-finite element of `t` as "element i (of n) is NaN", or undefined when all are finite. */
export function firstNonFinite(t: Tensor): string | undefined {
  if (t.size === 0) return undefined;
  // One native reduction (either backend, in double): finite when every element is.
  if (Number.isFinite(norm1(t))) return undefined;
  const d = t.data();
  for (let i = 0; i < d.length; ++i)
    if (!Number.isFinite(d[i])) return `element ${i} (of ${d.length}, shape [${t.shape.join(',')}]) is ${d[i]}`;
  return undefined; // finite values whose sum overflowed
}

/** Throws "<what>: element i (of n, shape [...]) is NaN; ..." when `t` holds a non-finite value. */
export function checkFiniteTensor(what: string, t: Tensor): void {
  const bad = firstNonFinite(t);
  if (bad) throw new Error(`${what}: ${bad}; expected finite numbers (pass allowNonFinite: true to run anyway)`);
}
