// Property tests: the loaders and decoders fed mutated real files (bytes
// flipped, runs overwritten, truncated, spliced) either load or fail with a
// plain Error whose message names the format: never a TypeError, RangeError
// or anything else that escaped a check. Fixed seeds, so a failure reruns.
import * as fs from 'fs';
import * as path from 'path';

import fc from 'fast-check';

import { decodeBmp, readBmpHeader } from '../../src/ts/image/bmp';
import { readImage } from '../../src/ts/image/io';
import { loadOnnx } from '../../src/ts/models/onnx';
import { loadTflite } from '../../src/ts/models/tflite';
import { SHARED } from '../reference';

const MODELS = path.join(SHARED, 'models/mobilenet_v1_0.25_224');

/** A mutation of `base`: some bytes set, a run overwritten, truncated or a chunk repeated. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const pos = fc.nat({ max: base.length - 1 });
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: pos, v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('run' as const), at: pos, len: fc.integer({ min: 1, max: 64 }), v: fc.constantFrom(0, 0xff, 0x7f, 0x80) }),
    fc.record({ kind: fc.constant('cut' as const), at: pos }),
    fc.record({ kind: fc.constant('dup' as const), at: pos, len: fc.integer({ min: 1, max: 4096 }) }),
  );
  // Edits near the start (headers, tables) more often than not.
  const early = fc.record({ kind: fc.constant('set' as const), at: fc.nat({ max: Math.min(base.length - 1, 4095) }), v: fc.integer({ min: 0, max: 255 }) });
  return fc.array(fc.oneof(edit, early), { minLength: 1, maxLength: 6 }).map((edits) => {
    let b = Uint8Array.from(base);
    for (const e of edits) {
      const at = Math.min(e.at, b.length - 1);
      if (e.kind === 'set') b[at] = e.v;
      else if (e.kind === 'run') b.fill(e.v, at, at + e.len);
      else if (e.kind === 'cut') b = b.slice(0, at);
      else {
        const chunk = b.slice(at, at + e.len);
        const out = new Uint8Array(b.length + chunk.length);
        out.set(b.subarray(0, at + chunk.length));
        out.set(chunk, at + chunk.length);
        out.set(b.subarray(at + chunk.length), at + 2 * chunk.length);
        b = out;
      }
      if (b.length === 0) b = Uint8Array.of(0);
    }
    return b;
  });
}

/** Resolves, or rejects with a plain Error whose message starts with `prefix`; anything else fails the property. */
async function cleanly(prefix: RegExp, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error || !prefix.test(err.message))
      throw new Error(`not a clean error: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
  }
}

const RUNS = Number(process.env.EYECANDY_PROPERTY_RUNS ?? 60);

test('ONNX: mutated MobileNet files load or fail with an onnx: error', async () => {
  const base = new Uint8Array(fs.readFileSync(path.join(MODELS, 'mobilenet_v1_0.25_224.onnx')));
  await fc.assert(
    fc.asyncProperty(mutated(base), (bytes) => cleanly(/^onnx: /, () => loadOnnx(bytes))),
    { numRuns: RUNS, seed: 14 },
  );
});

test('TFLite: mutated MobileNet files (float and quantized) load or fail with a tflite: error', async () => {
  for (const f of ['mobilenet_v1_0.25_224_1_default_1.tflite', 'mobilenet_v1_0.25_224_quant.tflite']) {
    const base = new Uint8Array(fs.readFileSync(path.join(MODELS, f)));
    await fc.assert(
      fc.asyncProperty(mutated(base), (bytes) => cleanly(/^tflite: /, () => loadTflite(bytes))),
      { numRuns: RUNS, seed: 14 },
    );
  }
});

test('BMP: a mutated real BMP decodes or fails with a bmp: error; readImage with an image: error', async () => {
  const base = new Uint8Array(fs.readFileSync(path.join(SHARED, 'images/photos/tabby_cat_224.bmp')));
  fc.assert(
    fc.property(mutated(base), (bytes) => {
      try {
        readBmpHeader(bytes);
        decodeBmp(bytes);
      } catch (err) {
        if (!(err instanceof Error) || err.constructor !== Error || !/^bmp: /.test(err.message))
          throw new Error(`not a clean error: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      }
    }),
    { numRuns: RUNS * 4, seed: 14 },
  );
  await fc.assert(
    fc.asyncProperty(mutated(base), (bytes) => cleanly(/^image: /, () => readImage(bytes))),
    { numRuns: RUNS, seed: 14 },
  );
});
