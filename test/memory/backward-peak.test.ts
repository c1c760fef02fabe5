// The last backward of a gradient() keeps its peak down in two more ways:
// a branch off the chain (a style Gram on an early layer) makes its input
// gradient only when the chain's backward reaches that layer, summed in place,
// and a max pool over a relu output that nothing else reads writes its
// gradient over that output (the relu's backward fused in) instead of into a
// new buffer of the input's size. Both give exactly the gradients of the
// plain forward({grad}) + backward().
import { Graph, memoryStats, NodeRef, PoolOptions, resetMemoryPeak, Tensor } from '../../src/ts';

function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < v.length; ++i) v[i] = Math.sin(i * 0.37 + seed) * 0.3;
  return v;
}

function conv(g: Graph, name: string, x: NodeRef, cin: number, cout: number, seed: number): NodeRef {
  g.conv2d(`${name}/linear`, x, { kernel: Tensor.from(values(9 * cin * cout, seed), [3, 3, cin, cout]), padding: 'same' });
  return g.relu(name, `${name}/linear`);
}

function input(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; ++i) v[i] = Math.cos(i * 0.11) * 2;
  return Tensor.from(v, shape);
}

/** Native peak above the bytes live before, and the input gradient, of gradient() (last backward) and of forward + backward. */
async function peaks(g: Graph, x: Tensor, seeds: Record<string, number>) {
  const taps = Object.keys(seeds);
  const a = g.compile();
  let base = memoryStats().cpu.bytes;
  resetMemoryPeak();
  const out = await a.forward(x, { taps, grad: true });
  const kept = await a.backward(seeds);
  const keptPeak = memoryStats().cpu.peak - base;
  taps.forEach((t) => out[t].dispose());
  a.dispose();

  const b = g.compile();
  base = memoryStats().cpu.bytes;
  resetMemoryPeak();
  const r = await b.gradient(x, seeds);
  const lastPeak = memoryStats().cpu.peak - base;
  taps.forEach((t) => r.taps[t].dispose());
  b.dispose();
  const want = kept.input!.data();
  const got = r.gradients[0].input!.data();
  kept.input!.dispose();
  r.gradients[0].input!.dispose();
  return { keptPeak, lastPeak, want, got };
}

test('a Gram branch on the first layer adds no activation-sized gradient to the backward peak', async () => {
  const size = 64;
  const channels = 16;
  const bytes = size * size * channels * 4; // one activation
  // x -> 4 x (conv + relu) -> sum of squares, with and without a Gram loss on the first relu.
  const build = (branch: boolean) => {
    const g = new Graph();
    let h = g.input('x', [1, size, size, 3]);
    h = conv(g, 'r0', h, 3, channels, 0);
    for (let i = 1; i < 4; ++i) h = conv(g, `r${i}`, h, channels, channels, i);
    g.sumSquares('loss', h);
    if (branch) {
      g.gram('gram', 'r0');
      g.sumSquares('style', 'gram');
    }
    return g;
  };
  const x = input([1, size, size, 3]);
  const plain = await peaks(build(false), x, { loss: 1 });
  const branch = await peaks(build(true), x, { loss: 1, style: 1 });
  x.dispose();
  expect(Array.from(branch.got)).toEqual(Array.from(branch.want));
  expect(Array.from(plain.got)).toEqual(Array.from(plain.want));
  // Made up front, the branch's gradient at r0 would be held through the whole backward.
  expect(branch.lastPeak).toBeLessThan(plain.lastPeak + bytes / 2);
});

test('max pool over a relu: gradient() writes the pool gradient over the kept relu output', async () => {
  const size = 64;
  const channels = 16;
  const bytes = size * size * channels * 4; // the relu's output
  const g = new Graph();
  const h = conv(g, 'r0', g.input('x', [1, size, size, 3]), 3, channels, 0);
  g.maxPool('pool', h, { size: 2 });
  g.sumSquares('loss', 'pool');
  const x = input([1, size, size, 3]);
  const r = await peaks(g, x, { loss: 1 });
  x.dispose();
  expect(Array.from(r.got)).toEqual(Array.from(r.want));
  // forward + backward keeps the relu's output while the pool's backward fills a new buffer of its size.
  expect(r.lastPeak).toBeLessThanOrEqual(r.keptPeak - bytes / 2);
});

// Geometries the in-place kernel must get exactly right (rows and columns no window reads,
// windows cut by padding or the ceil-mode edge, dilated windows with holes), and overlapping
// windows, which take the ordinary path. Values include zeros, ties and negatives.
const geometries: [string, PoolOptions][] = [
  ['2x2/2 on an odd size', { size: 2 }],
  ['2x2 stride 3 (gaps)', { size: 2, strides: 3 }],
  ['3x3/3 ceil mode', { size: 3, ceilMode: true }],
  ['2x2/2 same padding', { size: 2, padding: 'same' }],
  ['2x2 dilation 2 stride 4', { size: 2, dilations: 2, strides: 4 }],
  ['[1, 3] stride [2, 3]', { size: [1, 3], strides: [2, 3] }],
  ['3x3/2 overlapping', { size: 3, strides: 2 }],
];

test.each(geometries)('relu + max pool %s: gradient() equals forward + backward', async (_name, o) => {
  const g = new Graph();
  const x = g.input('x', [2, 11, 13, 70]);
  g.relu('r', x);
  g.maxPool('pool', 'r', o);
  g.conv2d('c', 'pool', { kernel: Tensor.from(values(70 * 5, 3), [1, 1, 70, 5]) });
  g.sumSquares('loss', 'c');
  const v = new Float32Array(2 * 11 * 13 * 70);
  // Rounded to a few levels: many ties, exact zeros, negatives.
  for (let i = 0; i < v.length; ++i) v[i] = Math.round(Math.sin(i * 0.7) * 3) / 2;
  const t = Tensor.from(v, [2, 11, 13, 70]);
  const r = await peaks(g, t, { loss: 1 });
  t.dispose();
  expect(Array.from(r.got)).toEqual(Array.from(r.want));
  expect(r.want.some((a) => a !== 0)).toBe(true);
});
