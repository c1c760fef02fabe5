// MobileNet v1 0.25 from its .tflite files, loaded with loadTflite: the float
// model on the five reference images against the shared reference outputs,
// the uint8-quantized model on the burger (dequantized at load time, run in
// float), the loader's errors, and a hand-made flatbuffer exercising the
// smaller ops.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Network, Tensor } from '../../src/ts';
import { loadTflite, TfliteModel } from '../../src/ts/models/tflite';
import { rng } from '../helpers';

import { expectMobilenetReference, REFERENCE_INPUTS, referenceRgb, SHARED, top5 } from '../reference';
const DIR = path.join(SHARED, 'models/mobilenet_v1_0.25_224');
const FLOAT = path.join(DIR, 'mobilenet_v1_0.25_224_1_default_1.tflite');
const QUANT = path.join(DIR, 'mobilenet_v1_0.25_224_quant.tflite');
const INPUTS = REFERENCE_INPUTS;
const rgb = referenceRgb;

describe('mobilenet_v1_0.25_224_1_default_1.tflite (float)', () => {
  let model: TfliteModel;
  let net: Network;

  beforeAll(async () => {
    model = await loadTflite(FLOAT);
    net = model.graph.compile({ backend: 'cpu' });
  });
  afterAll(() => net?.dispose());

  test('loads as an NHWC graph that keeps the TFLite tensor names', () => {
    expect(model.format as string).toBe('tflite');
    expect(model.version).toBe(3);
    expect(model.input).toBe('input');
    expect(model.inputType).toBe('FLOAT32');
    expect(model.inputQuantization).toBeUndefined();
    expect(model.inputShape).toEqual([1, 224, 224, 3]);
    expect(model.output).toBe('MobilenetV1/Predictions/Reshape_1');
    expect(model.logits).toBe('MobilenetV1/Logits/SpatialSqueeze');
    expect(model.graph.last).toBe(model.output);
    expect(model.layers.slice(0, 3)).toEqual([
      'MobilenetV1/MobilenetV1/Conv2d_0/Relu6/conv_2d',
      'MobilenetV1/MobilenetV1/Conv2d_0/Relu6',
      'MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6/depthwise_conv_2d',
    ]);
    // 27 convs each with a fused relu6, the last conv, avg pool, squeeze, softmax.
    expect(model.layers).toHaveLength(58);
    // OHWI [8,3,3,3] became HWIO; depthwise [1,3,3,8] became [3,3,1,8].
    expect(net.param('MobilenetV1/MobilenetV1/Conv2d_0/Relu6/conv_2d/kernel').shape).toEqual([3, 3, 3, 8]);
    expect(net.param('MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6/depthwise_conv_2d/kernel').shape).toEqual([3, 3, 1, 8]);
    expect(net.inferShapes({ input: [1, 224, 224, 3] })['MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6']).toEqual([1, 7, 7, 256]);
  });

  // |Δprob| per input; the aggregate runs whatever inputs were not run (a -t filter), so it never passes on 0.
  const dProb = new Map<string, number>();
  test.each(INPUTS)('%s matches the reference probabilities, logits and top-5', async (name) => {
    dProb.set(name, await expectMobilenetReference(net, model, name));
  });

  test('worst |Δprob| over the five inputs', async () => {
    for (const name of INPUTS) if (!dProb.has(name)) dProb.set(name, await expectMobilenetReference(net, model, name));
    expect([...dProb.keys()].sort()).toEqual([...INPUTS].sort());
    const worstProb = Math.max(...dProb.values());
    // eslint-disable-next-line no-console
    console.log(`tflite float mobilenet: max |Δprob| = ${worstProb.toExponential(2)}`);
    expect(worstProb).toBeLessThan(1e-4);
  });
});

describe('mobilenet_v1_0.25_224_quant.tflite (uint8, dequantized at load)', () => {
  test('burger_224 is a cheeseburger (934) at about 0.96', async () => {
    const model = await loadTflite(QUANT);
    expect(model.inputType).toBe('UINT8');
    // The graph takes the real value (q - 128) / 128 = rgb/128 - 1.
    expect(model.inputQuantization).toEqual({ scale: 1 / 128, zeroPoint: 128 });
    expect(model.output).toBe('MobilenetV1/Predictions/Reshape_1');
    expect(model.logits).toBe('MobilenetV1/Logits/SpatialSqueeze');
    const { scale, zeroPoint } = model.inputQuantization!;
    const net = model.graph.compile({ backend: 'cpu' });
    try {
      const x = Tensor.from(Float32Array.from(rgb('burger_224'), (q) => (q - zeroPoint) * scale), [1, 224, 224, 3]);
      const prob = (await net.forward(x))[model.output].data();
      const best = top5(prob)[0];
      // eslint-disable-next-line no-console
      console.log(`tflite quant mobilenet on burger_224: top-1 ${best} p=${prob[best].toFixed(4)}`);
      expect(best).toBe(934);
      // TFLite's integer kernels give 0.96 ± 0.01; float compute on dequantized weights skips the 8-bit
      // rounding of activations between layers, so it lands slightly off: allow ± 0.03.
      expect(Math.abs(prob[934] - 0.96)).toBeLessThan(0.03);
      x.dispose();
    } finally {
      net.dispose();
    }
  });
});

// ---- a tiny FlatBuffers writer for hand-made models ---------------------------
// Objects are laid out front to back: each table is preceded by its vtable and
// followed by what its reference fields point at (uoffsets point forward).

type Field =
  | undefined
  | { t: 'i8' | 'i32' | 'f32'; v: number }
  | { t: 'table'; v: Field[] }
  | { t: 'tables'; v: Field[][] }
  | { t: 'i32s' | 'f32s'; v: number[] }
  | { t: 'bytes'; v: number[] }
  | { t: 'str'; v: string };

class Writer {
  out: number[] = [];
  private align(): void {
    while (this.out.length % 4) this.out.push(0);
  }
  private u32(v: number): void {
    this.out.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  }
  private patch(at: number, target: number): void {
    const rel = target - at;
    for (let k = 0; k < 4; ++k) this.out[at + k] = (rel >>> (8 * k)) & 255;
  }
  table(fields: Field[]): number {
    this.align();
    const vt = this.out.length;
    const vtSize = 4 + 2 * fields.length;
    const tableSize = 4 + 4 * fields.length;
    const u16 = (v: number): void => void this.out.push(v & 255, v >> 8);
    u16(vtSize);
    u16(tableSize);
    fields.forEach((f, i) => u16(f ? 4 + 4 * i : 0));
    this.align();
    const pos = this.out.length;
    this.u32(pos - vt);
    const pending: [number, Field][] = [];
    for (const f of fields) {
      const at = this.out.length;
      this.u32(0);
      if (!f) continue;
      const dv = new DataView(new ArrayBuffer(4));
      if (f.t === 'i8' || f.t === 'i32') dv.setInt32(0, f.v, true);
      else if (f.t === 'f32') dv.setFloat32(0, f.v, true);
      else pending.push([at, f]);
      if (f.t === 'i8' || f.t === 'i32' || f.t === 'f32') for (let k = 0; k < 4; ++k) this.out[at + k] = dv.getUint8(k);
    }
    for (const [at, f] of pending) this.patch(at, this.ref(f));
    return pos;
  }
  private ref(f: Field): number {
    if (!f) throw new Error('unreachable');
    this.align();
    const pos = this.out.length;
    switch (f.t) {
      case 'table':
        return this.table(f.v);
      case 'tables': {
        this.u32(f.v.length);
        const slots = f.v.map(() => {
          const at = this.out.length;
          this.u32(0);
          return at;
        });
        f.v.forEach((t, i) => this.patch(slots[i], this.table(t)));
        return pos;
      }
      case 'i32s':
      case 'f32s': {
        this.u32(f.v.length);
        const dv = new DataView(new ArrayBuffer(4 * f.v.length));
        f.v.forEach((v, i) => (f.t === 'i32s' ? dv.setInt32(4 * i, v, true) : dv.setFloat32(4 * i, v, true)));
        this.out.push(...new Uint8Array(dv.buffer));
        return pos;
      }
      case 'bytes':
        this.u32(f.v.length);
        this.out.push(...f.v);
        return pos;
      case 'str':
        this.u32(f.v.length);
        this.out.push(...Buffer.from(f.v, 'utf8'), 0);
        return pos;
      default:
        throw new Error('unreachable');
    }
  }
}

function flatbuffer(root: Field[], ident = 'TFL3'): Uint8Array {
  const w = new Writer();
  w.out.push(0, 0, 0, 0, ...Buffer.from(ident));
  const pos = w.table(root);
  const bytes = new Uint8Array(w.out);
  new DataView(bytes.buffer).setUint32(0, pos, true);
  return bytes;
}

const i32 = (v: number): Field => ({ t: 'i32', v });
const i8 = (v: number): Field => ({ t: 'i8', v });
const ints = (v: number[]): Field => ({ t: 'i32s', v });
const floatBytes = (v: number[]): Field => ({ t: 'bytes', v: [...new Uint8Array(Float32Array.from(v).buffer)] });

/** A TFLite model: ops [builtin code, inputs, outputs, options fields], tensors [name, shape, buffer], buffers. */
function tflite(ops: [number, number[], number[], Field[]?][], tensors: [string, number[], number][], buffers: number[][], inputs: number[], outputs: number[]): Uint8Array {
  const codes = [...new Set(ops.map(([c]) => c))];
  return flatbuffer([
    i32(3),
    { t: 'tables', v: codes.map((c) => [i8(Math.min(c, 127)), undefined, i32(1), i32(c)]) },
    {
      t: 'tables',
      v: [
        [
          { t: 'tables', v: tensors.map(([name, shape, buffer]) => [ints(shape), i8(0), i32(buffer), { t: 'str', v: name }]) },
          ints(inputs),
          ints(outputs),
          { t: 'tables', v: ops.map(([c, ins, outs, opt]) => [i32(codes.indexOf(c)), ints(ins), ints(outs), i8(opt ? 1 : 0), opt ? { t: 'table', v: opt } : undefined]) },
        ],
      ],
    },
    { t: 'str', v: 'hand-made' },
    { t: 'tables', v: buffers.map((b) => [b.length ? floatBytes(b) : undefined]) },
  ]);
}

describe('hand-made models', () => {
  test('FULLY_CONNECTED, ADD with a constant, CONCATENATION, RELU6 and SOFTMAX compute what TFLite would', async () => {
    // x [1,3] -> fc (w [2,3], b [2]) -> + c [2] -> concat with itself -> relu6 -> softmax.
    const w = [1, 2, 3, -1, 0.5, 2];
    const b = [0.25, -0.5];
    const c = [1, -2];
    const m = tflite(
      [
        [9, [0, 1, 2], [3], [i8(0)]],
        [0, [3, 4], [5], [i8(0)]],
        [2, [5, 5], [6], [i32(-1), i8(0)]],
        [21, [6], [7]],
        [25, [7], [8], [{ t: 'f32', v: 1 }]],
      ],
      [
        ['x', [1, 3], 0],
        ['w', [2, 3], 1],
        ['b', [2], 2],
        ['fc', [1, 2], 0],
        ['c', [2], 3],
        ['add', [1, 2], 0],
        ['cat', [1, 4], 0],
        ['r6', [1, 4], 0],
        ['prob', [1, 4], 0],
      ],
      [[], w, b, c],
      [0],
      [8],
    );
    const model = await loadTflite(m);
    expect([model.input, model.output, model.logits]).toEqual(['x', 'prob', 'r6']);
    const x = [0.5, -1, 2];
    const fc = [0, 1].map((o) => b[o] + x.reduce((s, v, i) => s + v * w[o * 3 + i], 0) + c[o]);
    const r6 = [...fc, ...fc].map((v) => Math.min(6, Math.max(0, v)));
    const e = r6.map((v) => Math.exp(v));
    const ref = e.map((v) => v / e.reduce((p, q) => p + q, 0));
    const net = model.graph.compile({ backend: 'cpu' });
    try {
      const out = await net.forward(Tensor.from(x, [1, 3]), { taps: ['r6', 'prob'] });
      Array.from(out.r6.data()).forEach((v, i) => expect(v).toBeCloseTo(r6[i], 5));
      Array.from(out.prob.data()).forEach((v, i) => expect(v).toBeCloseTo(ref[i], 6));
    } finally {
      net.dispose();
    }
  });

  test('an op outside the set is named with its operator index', async () => {
    const m = tflite([[21, [0], [1]], [28, [1], [2]]], [['x', [1, 4], 0], ['y', [1, 4], 0], ['z', [1, 4], 0]], [[]], [0], [2]);
    await expect(loadTflite(m)).rejects.toThrow('tflite: op TANH (operator 1) is not supported by eyecandy');
  });
});

describe('loader errors', () => {
  test('a truncated file names the file and the byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-tflite-'));
    const file = path.join(dir, 'half.tflite');
    try {
      const full = fs.readFileSync(FLOAT);
      fs.writeFileSync(file, full.subarray(0, full.length >> 1));
      await expect(loadTflite(file)).rejects.toThrow(`tflite: ${file}: truncated or corrupt flatbuffer at byte 941452`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('random bytes behind a TFL3 identifier are reported as a corrupt flatbuffer', async () => {
    const r = rng(42);
    const junk = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    junk.set(Buffer.from('TFL3'), 4);
    await expect(loadTflite(junk, { label: 'junk.tflite' })).rejects.toThrow(
      'tflite: junk.tflite: truncated or corrupt flatbuffer at byte 4096',
    );
  });

  test('files without the TFL3 identifier are not TFLite models', async () => {
    const onnx = path.join(DIR, 'mobilenet_v1_0.25_224.onnx');
    await expect(loadTflite(onnx)).rejects.toThrow(`tflite: ${onnx} is not a TFLite model (no TFL3 identifier)`);
    const r = rng(7);
    const junk = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    await expect(loadTflite(junk, { label: 'junk.bin' })).rejects.toThrow('tflite: junk.bin is not a TFLite model (no TFL3 identifier)');
    await expect(loadTflite(new Uint8Array(0))).rejects.toThrow('tflite: <bytes> is not a TFLite model (no TFL3 identifier)');
    await expect(loadTflite(flatbuffer([i32(3)], 'XXXX'))).rejects.toThrow('tflite: <bytes> is not a TFLite model (no TFL3 identifier)');
    await expect(loadTflite('/no/such/model.tflite')).rejects.toThrow('tflite: /no/such/model.tflite: cannot read the file (ENOENT)');
  });
});
