// The op table through the public JS API: every op of the native op set has
// cases here; each case is built as a one-op network, run forward and
// backward, and its gradients w.r.t. every input are checked against central
// finite differences. Hand-computed cases pin exact values.
import { Graph, NodeRef, opNames, Tensor } from '../../src/ts';
import { dot, Gen, numericCheck, randomData, size } from '../helpers';
import { addon } from '../../src/ts/native';

interface InputSpec {
  shape: number[];
  gen?: Gen;
  /** Not differentiated (e.g. an integer-like target). */
  noGrad?: boolean;
}

interface OpCase {
  name: string;
  op: string;
  inputs: InputSpec[];
  build: (g: Graph, x: NodeRef[]) => NodeRef;
  eps?: number;
  tol?: number;
}

const conv = (g: Graph, x: NodeRef[], o: Record<string, unknown> = {}) =>
  g.conv2d('y', x[0], { kernel: x[1], ...(x[2] ? { bias: x[2] } : {}), ...o });

// Op inputs are fed as graph *inputs* so the same gradient path serves data
// and weights; a param-as-parameter case follows below the table.
const cases: OpCase[] = [
  { name: 'conv2d same stride 1 bias', op: 'conv2d', inputs: [{ shape: [1, 5, 5, 3] }, { shape: [3, 3, 3, 4] }, { shape: [4] }], build: (g, x) => conv(g, x, { padding: 'same' }) },
  { name: 'conv2d stride 2 asymmetric pads', op: 'conv2d', inputs: [{ shape: [2, 6, 5, 2] }, { shape: [3, 2, 2, 3] }], build: (g, x) => conv(g, x, { strides: 2, padding: [0, 1, 1, 0] }) },
  { name: 'conv2d dilation 2 valid', op: 'conv2d', inputs: [{ shape: [1, 7, 7, 2] }, { shape: [3, 3, 2, 2] }, { shape: [2] }], build: (g, x) => conv(g, x, { dilations: 2 }) },
  { name: 'conv2d groups 2', op: 'conv2d', inputs: [{ shape: [1, 4, 4, 4] }, { shape: [3, 3, 2, 6] }], build: (g, x) => conv(g, x, { groups: 2, padding: 1 }) },
  { name: 'conv2d 3x3 stride 2 RGB to 8 bias (patches through the direct 1x1 kernel)', op: 'conv2d', inputs: [{ shape: [1, 6, 7, 3] }, { shape: [3, 3, 3, 8] }, { shape: [8] }], build: (g, x) => conv(g, x, { strides: 2, padding: [0, 0, 1, 1] }) },
  { name: 'conv2d 3x3 stride 2 RGB to 16, batch 2', op: 'conv2d', inputs: [{ shape: [2, 5, 5, 3] }, { shape: [3, 3, 3, 16] }], build: (g, x) => conv(g, x, { strides: 2, padding: 'same' }) },
  { name: 'conv2d depthwise 24 channels bias', op: 'conv2d', inputs: [{ shape: [1, 5, 4, 24] }, { shape: [3, 3, 1, 24] }, { shape: [24] }], build: (g, x) => conv(g, x, { groups: 24, padding: 'same' }) },
  { name: 'conv2d 1x1 24 to 32 bias', op: 'conv2d', inputs: [{ shape: [1, 3, 5, 24] }, { shape: [1, 1, 24, 32] }, { shape: [32] }], build: (g, x) => conv(g, x, {}) },
  { name: 'conv2d 1x1 16 to 128 bias (column blocks)', op: 'conv2d', inputs: [{ shape: [1, 2, 3, 16] }, { shape: [1, 1, 16, 128] }, { shape: [128] }], build: (g, x) => conv(g, x, {}) },
  { name: 'conv2d depthwise', op: 'conv2d', inputs: [{ shape: [1, 5, 5, 3] }, { shape: [3, 3, 1, 3] }, { shape: [3] }], build: (g, x) => conv(g, x, { groups: 3, padding: 'same', strides: 2 }) },
  { name: 'conv2d 5x5 valid on a 5x5 map, 40 to 300, batch 3 (one output pixel: the few-rows product)', op: 'conv2d', inputs: [{ shape: [3, 5, 5, 40] }, { shape: [5, 5, 40, 300] }, { shape: [300] }], build: (g, x) => conv(g, x, {}) },
  { name: 'conv2d 1x1 on one pixel, 300 to 520, batch 2 (few-rows product by column runs)', op: 'conv2d', inputs: [{ shape: [2, 1, 1, 300] }, { shape: [1, 1, 300, 520] }], build: (g, x) => conv(g, x, {}) },
  { name: 'dense 600 to 500, 2 rows (few-rows product in row blocks)', op: 'dense', inputs: [{ shape: [2, 600] }, { shape: [600, 500] }, { shape: [500] }], build: (g, x) => g.dense('y', x[0], { kernel: x[1], bias: x[2] }) },
  { name: 'dense', op: 'dense', inputs: [{ shape: [2, 3, 5] }, { shape: [5, 4] }, { shape: [4] }], build: (g, x) => g.dense('y', x[0], { kernel: x[1], bias: x[2] }) },
  { name: 'relu', op: 'relu', inputs: [{ shape: [2, 3, 4], gen: 'away_from_kinks' }], build: (g, x) => g.relu('y', x[0]) },
  { name: 'clip (relu6)', op: 'clip', inputs: [{ shape: [30], gen: 'away_from_kinks' }], build: (g, x) => g.clip('y', x[0], { min: -0.5, max: 0.5 }) },
  { name: 'leaky relu', op: 'leaky_relu', inputs: [{ shape: [3, 5], gen: 'away_from_kinks' }], build: (g, x) => g.leakyRelu('y', x[0], { alpha: 0.2 }) },
  { name: 'sigmoid', op: 'sigmoid', inputs: [{ shape: [3, 5] }], build: (g, x) => g.sigmoid('y', x[0]) },
  { name: 'tanh', op: 'tanh', inputs: [{ shape: [3, 5] }], build: (g, x) => g.tanh('y', x[0]) },
  { name: 'abs', op: 'abs', inputs: [{ shape: [2, 3, 4], gen: 'away_from_kinks' }], build: (g, x) => g.abs('y', x[0]) },
  { name: 'max pool 2x2', op: 'max_pool', inputs: [{ shape: [1, 4, 4, 2], gen: 'distinct' }], build: (g, x) => g.maxPool('y', x[0], { size: 2 }) },
  { name: 'max pool 3x3 s2 same ceil', op: 'max_pool', inputs: [{ shape: [2, 5, 6, 2], gen: 'distinct' }], build: (g, x) => g.maxPool('y', x[0], { size: 3, strides: 2, padding: 1, ceilMode: true }) },
  { name: 'avg pool pad count_include_pad', op: 'avg_pool', inputs: [{ shape: [1, 5, 5, 2] }], build: (g, x) => g.avgPool('y', x[0], { size: 3, strides: 2, padding: 1, countIncludePad: true }) },
  { name: 'avg pool pad exclude pad', op: 'avg_pool', inputs: [{ shape: [1, 5, 5, 2] }], build: (g, x) => g.avgPool('y', x[0], { size: 3, strides: 2, padding: 'same' }) },
  { name: 'global avg pool', op: 'global_avg_pool', inputs: [{ shape: [2, 3, 4, 3] }], build: (g, x) => g.globalAvgPool('y', x[0]) },
  { name: 'global max pool', op: 'global_max_pool', inputs: [{ shape: [2, 3, 4, 3], gen: 'distinct' }], build: (g, x) => g.globalMaxPool('y', x[0]) },
  { name: 'add broadcast', op: 'add', inputs: [{ shape: [2, 3, 4] }, { shape: [4] }], build: (g, x) => g.add('y', x[0], x[1]) },
  { name: 'mul broadcast both', op: 'mul', inputs: [{ shape: [2, 1, 4, 1] }, { shape: [1, 3, 1, 5] }], build: (g, x) => g.mul('y', x[0], x[1]) },
  { name: 'concat channels', op: 'concat', inputs: [{ shape: [1, 2, 2, 3] }, { shape: [1, 2, 2, 1] }, { shape: [1, 2, 2, 2] }], build: (g, x) => g.concat('y', x, { axis: -1 }) },
  { name: 'concat axis 1', op: 'concat', inputs: [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }], build: (g, x) => g.concat('y', x, { axis: 1 }) },
  { name: 'softmax last axis', op: 'softmax', inputs: [{ shape: [3, 6] }], build: (g, x) => g.softmax('y', x[0]) },
  { name: 'softmax middle axis', op: 'softmax', inputs: [{ shape: [2, 4, 3] }], build: (g, x) => g.softmax('y', x[0], { axis: 1 }) },
  { name: 'log softmax', op: 'log_softmax', inputs: [{ shape: [3, 6] }], build: (g, x) => g.logSoftmax('y', x[0]) },
  { name: 'lrn size 3', op: 'lrn', inputs: [{ shape: [1, 2, 2, 6] }], build: (g, x) => g.lrn('y', x[0], { size: 3, alpha: 0.5, beta: 0.75, bias: 2 }) },
  { name: 'batch norm', op: 'batch_norm', inputs: [{ shape: [2, 2, 3] }, { shape: [3] }, { shape: [3] }, { shape: [3] }, { shape: [3], gen: 'positive' }], build: (g, x) => g.batchNorm('y', x[0], { scale: x[1], offset: x[2], mean: x[3], variance: x[4], epsilon: 1e-3 }) },
  { name: 'reshape', op: 'reshape', inputs: [{ shape: [2, 3, 4] }], build: (g, x) => g.reshape('y', x[0], [0, -1, 2]) },
  { name: 'flatten', op: 'flatten', inputs: [{ shape: [2, 3, 2, 2] }], build: (g, x) => g.flatten('y', x[0]) },
  { name: 'pad constant', op: 'pad', inputs: [{ shape: [1, 2, 3, 2] }], build: (g, x) => g.pad('y', x[0], { pads: [0, 1, 2, 0, 0, 2, 1, 0], value: 0.5 }) },
  { name: 'pad reflect', op: 'pad', inputs: [{ shape: [1, 3, 4, 2] }], build: (g, x) => g.pad('y', x[0], { pads: [0, 2, 1, 0, 0, 1, 3, 0], mode: 'reflect' }) },
  { name: 'pad edge', op: 'pad', inputs: [{ shape: [1, 2, 3, 1] }], build: (g, x) => g.pad('y', x[0], { pads: [0, 2, 1, 0, 0, 1, 2, 0], mode: 'edge' }) },
  { name: 'resize up half pixel', op: 'resize_bilinear', inputs: [{ shape: [1, 3, 4, 2] }], build: (g, x) => g.resizeBilinear('y', x[0], { height: 5, width: 7 }) },
  { name: 'resize down align corners', op: 'resize_bilinear', inputs: [{ shape: [1, 6, 5, 2] }], build: (g, x) => g.resizeBilinear('y', x[0], { height: 3, width: 2, coord: 'align_corners' }) },
  { name: 'resize asymmetric', op: 'resize_bilinear', inputs: [{ shape: [1, 3, 3, 1] }], build: (g, x) => g.resizeBilinear('y', x[0], { height: 4, width: 5, coord: 'asymmetric' }) },
  { name: 'gram', op: 'gram', inputs: [{ shape: [2, 3, 4, 5] }], build: (g, x) => g.gram('y', x[0]) },
  { name: 'mse loss', op: 'mse_loss', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 4] }], build: (g, x) => g.mseLoss('y', x[0], x[1]) },
  { name: 'rms loss', op: 'rms_loss', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 4] }], build: (g, x) => g.rmsLoss('y', x[0], x[1]) },
  { name: 'transpose NHWC to NCHW', op: 'transpose', inputs: [{ shape: [2, 3, 4, 5] }], build: (g, x) => g.transpose('y', x[0], [0, 3, 1, 2]) },
  { name: 'transpose rank 3', op: 'transpose', inputs: [{ shape: [2, 3, 4] }], build: (g, x) => g.transpose('y', x[0], [2, 0, 1]) },
  { name: 'sum of squares', op: 'sum_squares', inputs: [{ shape: [2, 3, 4] }], build: (g, x) => g.sumSquares('y', x[0]) },
];

test('the table covers every native op', () => {
  const covered = new Set(cases.map((c) => c.op));
  expect(opNames().filter((op) => !covered.has(op))).toEqual([]);
});

test('the addon\'s op table lists every op in order with its arity, flags and attribute keys', () => {
  const table = addon().opTable();
  expect(table.map((o) => o.name)).toEqual(opNames());
  const row = (name: string) => table.find((o) => o.name === name)!;
  expect(row('conv2d')).toEqual({
    name: 'conv2d', minInputs: 2, maxInputs: 3, backwardNeedsInputs: true, backwardNeedsOutput: false,
    pointwise: false, spatial: true, window: true,
    attrs: ['kernel', 'strides', 'dilations', 'pads', 'padMode', 'ceilMode', 'groups'],
  });
  expect(row('concat').maxInputs).toBe(-1);
  expect(table.filter((o) => o.pointwise).map((o) => o.name)).toEqual(['relu', 'clip', 'leaky_relu', 'sigmoid', 'tanh', 'abs']);
  expect(table.filter((o) => o.window).map((o) => o.name)).toEqual(['conv2d', 'max_pool', 'avg_pool']);
  expect(row('pad').attrs).toEqual(['mode', 'value', 'pads']);
  for (const o of table) if (o.pointwise || o.window) expect(o.spatial).toBe(true);
});

describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  test('backward matches central finite differences for every input', async () => {
    const g = new Graph();
    const names = c.inputs.map((_, i) => g.input(`x${i}`, c.inputs[i].shape));
    const y = c.build(g, names);
    const net = g.compile();
    const data: Record<string, Float32Array> = {};
    const shapes: Record<string, number[]> = {};
    c.inputs.forEach((s, i) => {
      data[`x${i}`] = randomData(s.shape, 11 + i * 17, s.gen);
      shapes[`x${i}`] = s.shape;
    });
    const feed = (override?: [string, Float32Array]) => {
      const t: Record<string, Tensor> = {};
      for (const k of Object.keys(data)) t[k] = Tensor.from(override && override[0] === k ? override[1] : data[k], shapes[k]);
      return t;
    };
    const inputs = feed();
    const out = await net.forward(inputs, { taps: [y], grad: true });
    const R = randomData(out[y].shape, 99);
    const grads = await net.backward({ [y]: Tensor.from(R, out[y].shape) });
    expect(Object.keys(grads.inputs).sort()).toEqual(Object.keys(data).sort());
    for (const [k, base] of Object.entries(data)) {
      if (c.inputs[Number(k.slice(1))].noGrad) continue;
      const analytic = grads.inputs[k].data();
      expect(grads.inputs[k].shape).toEqual(shapes[k]);
      const objective = async (d: Float32Array) => {
        const o = await net.forward(feed([k, d]), { taps: [y] });
        return dot(o[y].data(), R);
      };
      const { worst, detail } = await numericCheck(objective, base, analytic, c.eps ?? 1e-2, 10);
      if (worst > (c.tol ?? 2e-2)) throw new Error(`${c.name}: input ${k} gradient off by ${worst.toFixed(4)} at ${detail}`);
    }
    net.dispose();
  });
});

test('parameter gradients equal the gradient of the same tensor fed as an input, and finite differences', async () => {
  const xs = randomData([1, 4, 4, 2], 1);
  const ws = randomData([3, 3, 2, 3], 2);
  const bs = randomData([3], 3);
  const g = new Graph();
  const x = g.input('x', [1, 4, 4, 2]);
  g.conv2d('conv', x, { kernel: Tensor.from(ws, [3, 3, 2, 3]), bias: Tensor.from(bs, [3]), padding: 'same' });
  g.sumSquares('loss', 'conv');
  const net = g.compile();
  expect(net.paramNames()).toEqual(['conv/kernel', 'conv/bias']);
  await net.forward(Tensor.from(xs, [1, 4, 4, 2]), { taps: ['loss'], grad: true });
  const grads = await net.backward({ loss: 1 }, { params: true });
  const gw = grads.params['conv/kernel'].data();
  const gb = grads.params['conv/bias'].data();

  const g2 = new Graph();
  const x2 = g2.input('x', [1, 4, 4, 2]);
  const w2 = g2.input('w', [3, 3, 2, 3]);
  const b2 = g2.input('b', [3]);
  g2.conv2d('conv', x2, { kernel: w2, bias: b2, padding: 'same' });
  g2.sumSquares('loss', 'conv');
  const net2 = g2.compile();
  await net2.forward({ x: Tensor.from(xs, [1, 4, 4, 2]), w: Tensor.from(ws, [3, 3, 2, 3]), b: Tensor.from(bs, [3]) }, { taps: ['loss'], grad: true });
  const grads2 = await net2.backward({ loss: 1 });
  expect(Array.from(gw)).toEqual(Array.from(grads2.inputs.w.data()));
  expect(Array.from(gb)).toEqual(Array.from(grads2.inputs.b.data()));

  const objective = async (w: Float32Array) => {
    net.setParam('conv/kernel', Tensor.from(w, [3, 3, 2, 3]));
    const o = await net.forward(Tensor.from(xs, [1, 4, 4, 2]), { taps: ['loss'] });
    return o.loss.item();
  };
  const { worst, detail } = await numericCheck(objective, ws, gw, 1e-2, 12);
  expect(`${worst < 2e-2 ? 'ok' : worst} ${worst < 2e-2 ? '' : detail}`.trim()).toBe('ok');
});

test('abs: the gradient is sign(x), 0 at 0', async () => {
  const g = new Graph();
  g.abs('y', g.input('x', [3]));
  const net = g.compile();
  await net.forward(Tensor.from([-2, 0, 3.5], [3]), { taps: ['y'], grad: true });
  const grads = await net.backward({ y: Tensor.from([1, 1, 1], [3]) });
  expect(Array.from(grads.inputs.x.data())).toEqual([-1, 0, 1]);
});

describe('hand-computed cases', () => {
  const run = async (build: (g: Graph, x: NodeRef) => NodeRef, data: number[], shape: number[]) => {
    const g = new Graph();
    const x = g.input('x', shape);
    const y = build(g, x);
    const out = await g.compile().forward(Tensor.from(data, shape), { taps: [y] });
    return { shape: out[y].shape, values: Array.from(out[y].data()) };
  };
  const close = (got: number[], want: number[], tol = 1e-5) => {
    expect(got.length).toBe(want.length);
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(tol));
  };

  test('conv2d 3x3 input, 2x2 kernel of ones, stride 1 valid', async () => {
    const r = await run((g, x) => g.conv2d('y', x, { kernel: Tensor.from([1, 1, 1, 1], [2, 2, 1, 1]), bias: Tensor.from([0.5], [1]) }), [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    expect(r.shape).toEqual([1, 2, 2, 1]);
    close(r.values, [12.5, 16.5, 24.5, 28.5]);
  });

  test('max pool 2x2 and avg pool with padding', async () => {
    const d = [1, 5, 2, 0, 3, 4, 8, 7, 9, 1, 1, 2, 0, 6, 3, 3];
    close((await run((g, x) => g.maxPool('y', x, { size: 2 }), d, [1, 4, 4, 1])).values, [5, 8, 9, 3]);
    // 3x3 window, stride 2, pad 1 on a 2x2 input of [1,2,3,4]: one output cell sees all four.
    close((await run((g, x) => g.avgPool('y', x, { size: 3, strides: 2, padding: 1 }), [1, 2, 3, 4], [1, 2, 2, 1])).values, [2.5]);
    close((await run((g, x) => g.avgPool('y', x, { size: 3, strides: 2, padding: 1, countIncludePad: true }), [1, 2, 3, 4], [1, 2, 2, 1])).values, [10 / 9]);
  });

  test('softmax, log-softmax, gram, losses', async () => {
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const s = e[0] + e[1] + e[2];
    close((await run((g, x) => g.softmax('y', x), [1, 2, 3], [1, 3])).values, e.map((v) => v / s));
    close((await run((g, x) => g.logSoftmax('y', x), [1, 2, 3], [1, 3])).values, e.map((v) => Math.log(v / s)));
    // F = [[1,2],[3,4]] (2 pixels x 2 channels): FᵀF/2 = [[5,7],[7,10]]
    close((await run((g, x) => g.gram('y', x), [1, 2, 3, 4], [1, 1, 2, 2])).values, [5, 7, 7, 10]);
    close((await run((g, x) => g.sumSquares('y', x), [1, 2, 3, 4], [4])).values, [30]);
    close((await run((g, x) => g.abs('y', x), [-2, 0, 3.5], [3])).values, [2, 0, 3.5]);
  });

  test('mse and rms against a target, add broadcast, pad reflect, resize align corners', async () => {
    const g = new Graph();
    const a = g.input('a', [4]);
    const t = g.param('t', Tensor.from([1, 1, 1, 1], [4]));
    g.mseLoss('mse', a, t);
    g.rmsLoss('rms', a, t);
    const out = await g.compile().forward(Tensor.from([1, 2, 3, 5], [4]), { taps: ['mse', 'rms'] });
    close([out.mse.item(), out.rms.item()], [21 / 4, Math.sqrt(21 / 4)]);
    close((await run((gg, x) => gg.add('y', x, gg.param('b', Tensor.from([10], [1]))), [1, 2], [2])).values, [11, 12]);
    close((await run((gg, x) => gg.pad('y', x, { pads: [2, 1], mode: 'reflect' }), [1, 2, 3], [3])).values, [3, 2, 1, 2, 3, 2]);
    close((await run((gg, x) => gg.pad('y', x, { pads: [1, 2], mode: 'edge' }), [1, 2, 3], [3])).values, [1, 1, 2, 3, 3, 3]);
    close((await run((gg, x) => gg.transpose('y', x, [1, 0]), [1, 2, 3, 4, 5, 6], [2, 3])).values, [1, 4, 2, 5, 3, 6]);
    close((await run((gg, x) => gg.resizeBilinear('y', x, { height: 1, width: 3, coord: 'align_corners' }), [0, 4], [1, 1, 2, 1])).values, [0, 2, 4]);
  });
});
