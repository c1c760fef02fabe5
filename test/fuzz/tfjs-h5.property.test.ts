// Property tests for the TF.js and Keras HDF5 loaders, beside loaders.property.test.ts: a small
// real model built at test time from the first block of VGG19 (its real uint8 TF.js weights from
// ../shared), then mutated. model.json is mutated as JSON (shapes, dtypes, quantization fields,
// weight names, shard paths, layer configs) and the shards as bytes; the HDF5 file, written
// with h5wasm from the same weights, is mutated as bytes. Each must load or fail with a plain
// Error whose message names the format, never a TypeError or RangeError. Fixed seeds.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import fc from 'fast-check';

import { h5wasm, loadKerasH5 } from '../../src/ts/models/keras/h5';
import { loadTfjs } from '../../src/ts/models/tfjs';
import { SHARED } from '../reference';

const VGG = path.join(SHARED, 'models/vgg19-tfjs-uint8');
const RUNS = Number(process.env.EYECANDY_PROPERTY_RUNS ?? 60);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-prop-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const LAYERS = ['input_1', 'block1_conv1', 'block1_conv2', 'block1_pool'];
interface Spec {
  name: string;
  shape: number[];
  dtype: string;
  quantization: { dtype: string; scale: number; min: number };
}

/** model.json for VGG19's first block, and its weights' bytes (the start of the real shard stream). */
function firstBlock(): { json: any; bytes: Buffer; specs: Spec[] } {
  const full = JSON.parse(fs.readFileSync(path.join(VGG, 'model.json'), 'utf8'));
  const cfg = full.modelTopology.model_config.config;
  cfg.layers = cfg.layers.filter((l: { name: string }) => LAYERS.includes(l.name));
  cfg.output_layers = [['block1_pool', 0, 0]];
  const specs: Spec[] = full.weightsManifest[0].weights.filter((w: Spec) => /^block1_conv[12]\//.test(w.name));
  const need = specs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0); // uint8: 1 byte each
  const bytes = fs.readFileSync(path.join(VGG, full.weightsManifest[0].paths[0])).subarray(0, need);
  expect(bytes.length).toBe(need);
  // Two shards, cut inside a weight, so the shard-crossing path runs too.
  const json = { ...full, weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights: specs }] };
  return { json, bytes, specs };
}

/** Resolves, or rejects with a plain Error whose message starts with `prefix`; anything else fails. */
async function cleanly(prefix: RegExp, run: () => Promise<{ graph?: { dispose?(): void } } | unknown>): Promise<void> {
  try {
    const m = (await run()) as { graph?: { dispose?(): void } } | undefined;
    m?.graph?.dispose?.();
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error || !prefix.test(err.message))
      throw new Error(`not a clean error: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
  }
}

/** Every path into a JSON value (objects and arrays), the root excluded. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v && typeof v === 'object') {
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      out.push([...at, k]);
      paths((v as Record<string | number, unknown>)[k], [...at, k], out);
    }
  }
  return out;
}

const ODD = [null, -1, 0, 1, 2.5, 1e12, -1e308, 2 ** 53, '', 'x', 'uint8', 'float16', 'int32', 'bool', '../../etc/passwd', 'a.bin', [], [0], [-3, 4], [1e9, 1e9], {}, { dtype: 'uint8' }, true];

/** A model.json with 1 to 4 values replaced by odd ones, or their keys deleted. */
function mutatedJson(base: any): fc.Arbitrary<any> {
  const all = paths(base);
  // The manifest more often than the topology: that is where shapes, dtypes and paths are.
  const manifest = all.filter((p) => p[0] === 'weightsManifest');
  const topo = all.filter((p) => p[0] === 'modelTopology');
  const edit = fc.record({
    p: fc.oneof({ arbitrary: fc.constantFrom(...manifest), weight: 3 }, { arbitrary: fc.constantFrom(...topo), weight: 1 }),
    v: fc.oneof(fc.constantFrom(...ODD.map((o) => ({ set: o }))), fc.constant({ del: true })),
  });
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const j = JSON.parse(JSON.stringify(base));
    for (const { p, v } of edits) {
      let o = j;
      for (const k of p.slice(0, -1)) {
        if (!o || typeof o !== 'object') break;
        o = o[k];
      }
      if (!o || typeof o !== 'object') continue;
      const k = p[p.length - 1];
      if ('del' in v) {
        if (Array.isArray(o)) o.splice(Number(k), 1);
        else delete o[k];
      } else o[k] = JSON.parse(JSON.stringify(v.set));
    }
    return j;
  });
}

/** Bytes with a few set, a run overwritten, or cut short. */
function mutatedBytes(base: Uint8Array, headerBytes = 4096): fc.Arbitrary<Uint8Array> {
  const pos = fc.nat({ max: base.length - 1 });
  const early = fc.nat({ max: Math.min(base.length - 1, headerBytes - 1) });
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.oneof(pos, early), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('run' as const), at: fc.oneof(pos, early), len: fc.integer({ min: 1, max: 64 }), v: fc.constantFrom(0, 0xff, 0x7f, 0x80) }),
    fc.record({ kind: fc.constant('cut' as const), at: pos, len: fc.constant(0), v: fc.constant(0) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let b = Uint8Array.from(base);
    for (const e of edits) {
      const at = Math.min(e.at, b.length - 1);
      if (e.kind === 'set') b[at] = e.v;
      else if (e.kind === 'run') b.fill(e.v, at, at + e.len);
      else b = b.slice(0, Math.max(1, at));
    }
    return b;
  });
}

let n = 0;
function writeTfjs(json: unknown, a: Uint8Array, b: Uint8Array): string {
  const dir = path.join(tmp, `tfjs-${++n}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, 'a.bin'), a);
  fs.writeFileSync(path.join(dir, 'b.bin'), b);
  return path.join(dir, 'model.json');
}

test('TF.js: the unmutated first block of VGG19 loads', async () => {
  const { json, bytes } = firstBlock();
  const m = await loadTfjs(writeTfjs(json, bytes.subarray(0, 20000), bytes.subarray(20000)));
  expect(m.format).toBe('tfjs');
});

test('TF.js: mutated model.json loads or fails with a tfjs: error', async () => {
  const { json, bytes } = firstBlock();
  await fc.assert(
    fc.asyncProperty(mutatedJson(json), (j) => cleanly(/^tfjs: /, () => loadTfjs(writeTfjs(j, bytes.subarray(0, 20000), bytes.subarray(20000))))),
    { numRuns: RUNS * 2, seed: 14 },
  );
});

test('TF.js: mutated and truncated shards load or fail with a tfjs: error', async () => {
  const { json, bytes } = firstBlock();
  await fc.assert(
    fc.asyncProperty(mutatedBytes(bytes.subarray(0, 20000)), mutatedBytes(bytes.subarray(20000)), (a, b) =>
      cleanly(/^tfjs: /, () => loadTfjs(writeTfjs(json, a, b))),
    ),
    { numRuns: RUNS, seed: 14 },
  );
});

// What the property found, one case each (all failed on the old code: a TypeError, or an
// error that did not name the format and file).
test.each([
  ['a weight spec that is null', (j: any) => (j.weightsManifest[0].weights[1] = null), /weight 2 of group 1 is null/],
  ['quantization without scale', (j: any) => delete j.weightsManifest[0].weights[0].quantization.scale, /block1_conv1\/kernel' is uint8-quantized but lacks scale\/min/],
  ['quantization that is a number', (j: any) => (j.weightsManifest[0].weights[0].quantization = 5), /has quantization 5; expected an object/],
  ['a shard path that is not a string', (j: any) => (j.weightsManifest[0].paths[0] = 7), /lists a shard path 7/],
  ['a layer without its config', (j: any) => delete j.modelTopology.model_config.config.layers[1].config, /layer 2 of the model config has no config object/],
  ['an input shape that is a string', (j: any) => (j.modelTopology.model_config.config.layers[0].config.batch_input_shape = 'uint8'), /layer 'input_1' has input shape "uint8"/],
  ['pool strides that are not numbers', (j: any) => (j.modelTopology.model_config.config.layers[3].config.strides = ['x', 'x']), /layer 'block1_pool': max_pool: .*strides/],
])('TF.js: %s fails with a tfjs: error naming it', async (_what, edit, message) => {
  const { json, bytes } = firstBlock();
  edit(json);
  const file = writeTfjs(json, bytes.subarray(0, 20000), bytes.subarray(20000));
  const err = await loadTfjs(file).then(() => undefined, (e: Error) => e);
  expect(err?.constructor).toBe(Error);
  expect(err?.message).toMatch(/^tfjs: '?\//);
  expect(err?.message).toMatch(message);
});

/** A Keras HDF5 file (model_config and model_weights, as Keras writes it) of the same block, float32 weights. */
async function writeH5(file: string, value = (q: number, s: Spec) => q * s.quantization.scale + s.quantization.min): Promise<void> {
  const { json, bytes, specs } = firstBlock();
  const h5 = (await h5wasm()) as any;
  const { FS } = await h5.ready;
  const mem = `/prop-${path.basename(file)}`;
  const f = new h5.File(mem, 'w');
  f.create_attribute('model_config', JSON.stringify(json.modelTopology.model_config));
  f.create_attribute('keras_version', '2.2.4');
  f.create_group('model_weights');
  const root = f.get('model_weights');
  root.create_attribute('layer_names', LAYERS);
  let off = 0;
  for (const layer of LAYERS) {
    root.create_group(layer);
    const mine = specs.filter((s) => s.name.startsWith(`${layer}/`));
    if (!mine.length) continue;
    const g = root.get(layer);
    g.create_attribute('weight_names', mine.map((s) => `${s.name}:0`));
    g.create_group(layer);
    for (const s of mine) {
      const count = s.shape.reduce((x, y) => x * y, 1);
      const data = Float32Array.from(bytes.subarray(off, off + count), (q) => value(q, s));
      off += count;
      g.get(layer).create_dataset({ name: `${s.name.split('/')[1]}:0`, data, shape: s.shape });
    }
  }
  f.close();
  fs.writeFileSync(file, FS.readFile(mem));
  FS.unlink(mem);
}

test('HDF5: mutated Keras files load or fail with a keras: error', async () => {
  const file = path.join(tmp, 'block1.h5');
  await writeH5(file);
  const m = await loadKerasH5(file);
  expect(m.format).toBe('keras');
  const base = new Uint8Array(fs.readFileSync(file));
  await fc.assert(
    fc.asyncProperty(mutatedBytes(base), async (bytes) => {
      const f = path.join(tmp, `m-${++n}.h5`);
      fs.writeFileSync(f, bytes);
      await cleanly(/^keras: /, () => loadKerasH5(f));
      fs.rmSync(f);
    }),
    { numRuns: RUNS, seed: 14 },
  );
}, 60_000);

test('HDF5: a NaN weight fails with a keras: error naming the file and the weight (it named neither)', async () => {
  const file = path.join(tmp, 'nan.h5');
  await writeH5(file, (q, s) => (s.name === 'block1_conv2/bias' ? NaN : q * s.quantization.scale + s.quantization.min));
  const err = await loadKerasH5(file).then(() => undefined, (e: Error) => e);
  expect(err?.constructor).toBe(Error);
  expect(err?.message).toMatch(/^keras: '.*nan\.h5' holds weights that cannot be used: compile: param 'block1_conv2\/bias': element 0 .* is NaN/);
});

// Seed 14 of the property above once met a file (a damaged string attribute) on which h5wasm
// loops forever, hanging the process. The read now runs in a worker thread with a time limit;
// here the limit is made too short for any file, to show the error and that nothing is left.
test('HDF5: a read past its time limit fails with a keras: error, and the reader is stopped', async () => {
  const file = path.join(tmp, 'slow.h5');
  await writeH5(file);
  const t0 = Date.now();
  const err = await loadKerasH5(file, { readTimeoutMs: 1 }).then(() => undefined, (e: Error) => e);
  expect(err?.constructor).toBe(Error);
  expect(err?.message).toMatch(/^keras: '.*slow\.h5': reading it did not finish within 0 s, so the file is taken as corrupt/);
  expect(Date.now() - t0).toBeLessThan(5000);
  // And with the default limit the same file loads.
  const m = await loadKerasH5(file);
  expect(m.format).toBe('keras');
});
