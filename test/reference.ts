// The reference data in ../shared (see its DATA.md) as the tests read it.
import * as fs from 'fs';
import * as path from 'path';

import { Network, Tensor } from '../src/ts';
import { LoadedModel } from '../src/ts/models/types';

export const SHARED = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../shared');

/** The five 224x224 reference inputs. */
export const REFERENCE_INPUTS = ['cat_dog_224', 'cats_and_dogs_224', 'tabby_cat_224', 'burger_224', 'grace_hopper_224'];

/** A raw little-endian float32 file. */
export function readF32(file: string): Float32Array {
  // Copy into a fresh buffer: a Buffer may sit at an unaligned offset in a shared pool.
  return new Float32Array(Uint8Array.from(fs.readFileSync(file)).buffer);
}

/** Indices of the five largest values, largest first. */
export function top5(p: Float32Array): number[] {
  return Array.from(p, (v, i) => [v, i])
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([, i]) => i);
}

/** A reference input: raw uint8 HWC RGB. */
export function referenceRgb(name: string): Buffer {
  return fs.readFileSync(path.join(SHARED, 'reference/inputs', `${name}.rgb`));
}

/**
 * Runs a MobileNet v1 0.25 (any loader) on one reference input (x/127.5 - 1) and
 * checks it against the reference runtime: |Δprob| < 1e-4, |Δlogit| < 1e-3, same
 * top-5. Returns the largest |Δprob|.
 */
export async function expectMobilenetReference(net: Network, model: LoadedModel, name: string): Promise<number> {
  const rgb = referenceRgb(name);
  expect(rgb.length).toBe(224 * 224 * 3);
  const x = Tensor.from(Float32Array.from(rgb, (v) => v / 127.5 - 1), [1, 224, 224, 3]);
  const out = await net.forward(x, { taps: [model.output, model.logits!] });
  const prob = out[model.output].data();
  const logits = out[model.logits!].data();
  const refProb = readF32(path.join(SHARED, 'reference/mobilenet_v1_0.25_224', `${name}.prob.f32`));
  const refLogits = readF32(path.join(SHARED, 'reference/mobilenet_v1_0.25_224', `${name}.logits.f32`));
  expect(prob.length).toBe(1001);
  let dp = 0;
  let dl = 0;
  for (let i = 0; i < 1001; ++i) {
    dp = Math.max(dp, Math.abs(prob[i] - refProb[i]));
    dl = Math.max(dl, Math.abs(logits[i] - refLogits[i]));
  }
  expect(dp).toBeLessThan(1e-4);
  expect(dl).toBeLessThan(1e-3);
  expect(top5(prob)).toEqual(top5(refProb));
  x.dispose();
  return dp;
}
