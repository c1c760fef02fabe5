// MobileNet v1 0.25 (ONNX, opset 13, NCHW, asymmetric pads) loaded with
// loadOnnx and run on the five reference images against the shared reference
// outputs; plus the loader's errors for corrupt files and unsupported content.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Network, Tensor } from '../../src/ts';
import { loadOnnx, OnnxModel } from '../../src/ts/models/onnx';
import { rng } from '../helpers';
import { expectMobilenetReference, REFERENCE_INPUTS, referenceRgb, SHARED, top5 } from '../reference';

const MODEL = path.join(SHARED, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx');
const INPUTS = REFERENCE_INPUTS;

describe('mobilenet_v1_0.25_224.onnx', () => {
  let model: OnnxModel;
  let net: Network;

  beforeAll(async () => {
    model = await loadOnnx(MODEL);
    net = model.graph.compile({ backend: 'cpu' });
  });
  afterAll(() => net?.dispose());

  test('loads as an NHWC graph that keeps the ONNX node names', () => {
    expect(model.format).toBe('onnx');
    expect(model.opset).toBe(13);
    expect(model.input).toBe('input');
    expect(model.inputShape).toEqual([1, 224, 224, 3]);
    expect(model.output).toBe('op30_softmax');
    expect(model.logits).toBe('op29_reshape');
    expect(model.layers.slice(0, 3)).toEqual(['op0_CONV_2D', 'op0_relu6', 'op1_DEPTHWISE_CONV_2D']);
    expect(model.layers).toHaveLength(58);
    expect(model.graph.last).toBe(model.output);
    expect(model.outputs.map((o) => [o.name, o.node, o.shape])).toEqual([
      ['probabilities', 'op30_softmax', [1, 1001]],
      ['logits', 'op29_reshape', [1, 1001]],
    ]);
    // OIHW [8,3,3,3] became HWIO.
    expect(net.param('op0_CONV_2D/kernel').shape).toEqual([3, 3, 3, 8]);
    expect(net.inferShapes({ input: [1, 224, 224, 3] })['op26_CONV_2D']).toEqual([1, 7, 7, 256]);
  });

  const topJson = JSON.parse(fs.readFileSync(path.join(SHARED, 'reference/top5.json'), 'utf8')) as Record<
    string,
    Record<string, [number, string, number][]>
  >;
  // |Δprob| per input; the aggregate runs whatever inputs were not run (a -t filter), so it never passes on 0.
  const dProb = new Map<string, number>();

  test.each(INPUTS)('%s matches the reference probabilities, logits and top-5', async (name) => {
    dProb.set(name, await expectMobilenetReference(net, model, name));
    // And the hand-written list in top5.json, so a wrong reference file cannot hide a bug.
    const out = await net.forward(Tensor.from(Float32Array.from(referenceRgb(name), (v) => v / 127.5 - 1), [1, 224, 224, 3]));
    const listed = Object.entries(topJson[name]).find(([k]) => k.startsWith('mobilenet'))![1];
    expect(top5(out[model.output].data())).toEqual(listed.map(([i]) => i));
  });

  test('forward without taps returns the probabilities', async () => {
    const out = await net.forward(Tensor.zeros([1, 224, 224, 3]));
    const p = out[model.output].data();
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  test('worst |Δprob| over the five inputs', async () => {
    for (const name of INPUTS) if (!dProb.has(name)) dProb.set(name, await expectMobilenetReference(net, model, name));
    expect([...dProb.keys()].sort()).toEqual([...INPUTS].sort());
    const worstProb = Math.max(...dProb.values());
    // eslint-disable-next-line no-console
    console.log(`onnx mobilenet: max |Δprob| = ${worstProb.toExponential(2)}`);
    expect(worstProb).toBeLessThan(1e-4);
  });
});

// ---- a tiny protobuf writer for hand-made models ---------------------------

function varint(v: number): number[] {
  const out: number[] = [];
  let n = BigInt.asUintN(64, BigInt(v));
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
}
const key = (field: number, wire: number): number[] => varint(field * 8 + wire);
const int = (field: number, v: number): number[] => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: number[]): number[] => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);
const floats = (field: number, v: number[]): number[] => bytes(field, [...Buffer.from(Float32Array.from(v).buffer)]);

/** ValueInfoProto with a float tensor type of the given dims. */
function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, int(1, d)));
  return [...str(1, name), ...bytes(2, bytes(1, [...int(1, 1), ...bytes(2, shape)]))];
}
function node(op: string, name: string, inputs: string[], outputs: string[], attrs: number[][] = []): number[] {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, name), ...str(4, op), ...attrs.flatMap((a) => bytes(5, a))];
}
function tensor(name: string, dims: number[], values: number[], extra: number[] = []): number[] {
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...floats(4, values), ...str(8, name), ...extra];
}
const attrInt = (name: string, v: number): number[] => [...str(1, name), ...int(3, v), ...int(20, 2)];
const attrInts = (name: string, v: number[]): number[] => [...str(1, name), ...v.flatMap((x) => int(8, x)), ...int(20, 7)];
function model(nodes: number[][], inits: number[][], inputs: number[][], outputs: string[], opset = 13): Uint8Array {
  const graph = [
    ...nodes.flatMap((n) => bytes(1, n)),
    ...str(2, 'g'),
    ...inits.flatMap((t) => bytes(5, t)),
    ...inputs.flatMap((i) => bytes(11, i)),
    ...outputs.flatMap((o) => bytes(12, str(1, o))),
  ];
  return Uint8Array.from([...int(1, 7), ...bytes(8, int(2, opset)), ...bytes(7, graph)]);
}
const weights = tensor('w', [1, 1, 3, 3], new Array<number>(9).fill(0.5));

describe('loader errors', () => {
  test('a truncated file names the file and the byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-onnx-'));
    const file = path.join(dir, 'half.onnx');
    try {
      const full = fs.readFileSync(MODEL);
      fs.writeFileSync(file, full.subarray(0, full.length >> 1));
      await expect(loadOnnx(file)).rejects.toThrow(`onnx: ${file}: truncated or corrupt protobuf at byte 334`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('random bytes are reported as a corrupt protobuf', async () => {
    const r = rng(42);
    const junk = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    await expect(loadOnnx(junk, { label: 'junk.onnx' })).rejects.toThrow(
      'onnx: junk.onnx: truncated or corrupt protobuf at byte 10',
    );
    await expect(loadOnnx(new Uint8Array(0))).rejects.toThrow('onnx: <bytes>: not an ONNX model (it has no graph)');
    await expect(loadOnnx('/no/such/model.onnx')).rejects.toThrow('onnx: /no/such/model.onnx: cannot read the file (ENOENT)');
  });

  test('an op outside the set is named with its node', async () => {
    const m = model([node('ConvTranspose', 'convt1', ['x', 'w'], ['y'])], [weights], [valueInfo('x', [1, 1, 4, 4])], ['y']);
    await expect(loadOnnx(m)).rejects.toThrow("onnx: op 'ConvTranspose' (node 'convt1') is not supported by eyecandy");
  });

  test('a hand-made model loads and runs; missing, dynamic and external inputs are reported', async () => {
    const ok = model([node('Conv', 'conv1', ['x', 'w'], ['y'])], [weights], [valueInfo('x', [1, 1, 4, 4])], ['y']);
    const loaded = await loadOnnx(ok);
    const y = (await loaded.graph.compile().forward(Tensor.from(new Float32Array(16).fill(1), [1, 4, 4, 1])))[loaded.output];
    expect(y.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(y.data())).toEqual([4.5, 4.5, 4.5, 4.5]);

    const missing = model([node('Conv', 'conv1', ['x', 'w'], ['y'])], [], [valueInfo('x', [1, 1, 4, 4])], ['y']);
    await expect(loadOnnx(missing, { label: 'm.onnx' })).rejects.toThrow(
      "onnx: m.onnx: Conv node 'conv1': input 'w' is not produced by any initializer, graph input or earlier node",
    );
    const dynamic = model([node('Reshape', 'r1', ['x', 's'], ['y'])], [], [valueInfo('x', [2, 3]), valueInfo('s', [2])], ['y']);
    await expect(loadOnnx(dynamic, { label: 'm.onnx' })).rejects.toThrow(
      "onnx: m.onnx: Reshape node 'r1': the target shape (input 1, 's') must be a constant (an initializer or Constant node); eyecandy cannot use a value computed at run time here",
    );
    const external = tensor('w', [1, 1, 3, 3], [], int(14, 1));
    const ext = model([node('Conv', 'conv1', ['x', 'w'], ['y'])], [external], [valueInfo('x', [1, 1, 4, 4])], ['y']);
    await expect(loadOnnx(ext, { label: 'm.onnx' })).rejects.toThrow(
      "onnx: m.onnx: initializer 'w': its data is stored in an external file, which eyecandy does not read (save the model with the weights inside)",
    );
    const nearest = model(
      [node('Resize', 'up', ['x', '', 's'], ['y'], [[...str(1, 'mode'), ...bytes(4, [...Buffer.from('nearest')])]])],
      [tensor('s', [4], [1, 1, 2, 2])],
      [valueInfo('x', [1, 1, 4, 4])],
      ['y'],
    );
    await expect(loadOnnx(nearest, { label: 'm.onnx' })).rejects.toThrow(
      "onnx: m.onnx: Resize node 'up': mode 'nearest' is not supported",
    );
  });
});

test('layout-sensitive ops agree with a direct NCHW computation', async () => {
  // x [1,2,3,3] + bias [2,1,1] -> concat with itself on channels -> opset-11 softmax over C,H,W
  // -> transpose to [1,3,3,4] -> reshape to [1,4,9] (element order must be ONNX's).
  const m = model(
    [
      node('Add', 'add1', ['x', 'bias'], ['b']),
      node('Concat', 'cat1', ['b', 'b'], ['c'], [attrInt('axis', 1)]),
      node('Softmax', 'soft1', ['c'], ['s'], [attrInt('axis', 1)]),
      node('Transpose', 'tr1', ['s'], ['t'], [attrInts('perm', [0, 2, 3, 1])]),
      node('Reshape', 'rs1', ['t', 'shape'], ['r']),
    ],
    [tensor('bias', [2, 1, 1], [0.5, -1]), [...int(1, 3), ...int(2, 7), ...bytes(7, [1, 4, 9].flatMap((d) => varint(d))), ...str(8, 'shape')]],
    [valueInfo('x', [1, 2, 3, 3])],
    ['s', 'r'],
    11,
  );
  const loaded = await loadOnnx(m);
  const x = Array.from({ length: 18 }, (_, i) => Math.sin(i) * 2);
  // The NCHW reference.
  const b = x.map((v, i) => v + [0.5, -1][Math.floor(i / 9)]);
  const c = [...b, ...b];
  const e = c.map((v) => Math.exp(v - Math.max(...c)));
  const sm = e.map((v) => v / e.reduce((p, q) => p + q, 0));
  const t: number[] = [];
  for (let h = 0; h < 3; ++h) for (let w = 0; w < 3; ++w) for (let ch = 0; ch < 4; ++ch) t.push(sm[ch * 9 + h * 3 + w]);
  const nhwc = Array.from({ length: 18 }, (_, i) => x[(i % 2) * 9 + Math.floor(i / 2)]);
  const out = await loaded.graph.compile().forward(Tensor.from(nhwc, [1, 3, 3, 2]), { taps: loaded.outputs.map((o) => o.node) });
  const [so, ro] = loaded.outputs;
  expect([so.layout, ro.layout, ro.shape]).toEqual(['nhwc', 'plain', [1, 4, 9]]);
  // s is held NHWC: [1,3,3,4] in our layout, which is exactly t's order.
  Array.from(out[so.node].data()).forEach((v, i) => expect(v).toBeCloseTo(t[i], 6));
  Array.from(out[ro.node].data()).forEach((v, i) => expect(v).toBeCloseTo(t[i], 6));
});
