// What a compiled network costs per call once warm: the last backward of a
// gradient() frees the kept activations as it reads them (so the earlier
// layers' gradients reuse that memory), pointwise backward runs in place, and
// buffers handed to the caller come back to the network's pool once dropped,
// so repeated calls take no fresh pages.
import { Graph, memoryStats, resetMemoryPeak, Tensor } from '../../src/ts';

/** x -> (conv 3x3 + relu) x depth -> sum of squares, on [1, size, size, channels]. */
function chain(size: number, channels: number, depth: number, inChannels = channels) {
  const g = new Graph();
  let x = g.input('x', [1, size, size, inChannels]);
  const weights: Tensor[] = [];
  for (let i = 0; i < depth; ++i) {
    const cin = i ? channels : inChannels;
    const k = new Float32Array(3 * 3 * cin * channels);
    for (let j = 0; j < k.length; ++j) k[j] = Math.sin(j * 0.37 + i) * 0.2;
    weights.push(Tensor.from(k, [3, 3, cin, channels]));
    g.conv2d(`c${i}`, x, { kernel: weights[i], padding: 'same' });
    x = g.relu(`r${i}`, `c${i}`);
  }
  g.sumSquares('loss', x);
  return { g, weights };
}

function input(size: number, channels: number): Tensor {
  const v = new Float32Array(size * size * channels);
  for (let i = 0; i < v.length; ++i) v[i] = Math.cos(i * 0.11);
  return Tensor.from(v, [1, size, size, channels]);
}

test("gradient() frees each kept activation after its last reader: lower peak, same gradient", async () => {
  const size = 64;
  const channels = 16;
  const bytes = size * size * channels * 4; // one activation
  const { g, weights } = chain(size, channels, 6);
  const x = input(size, channels);

  // forward({grad}) then backward(): everything kept stays until the pass is over.
  const a = g.compile();
  const base = memoryStats().cpu.bytes;
  resetMemoryPeak();
  await a.forward(x, { taps: ['loss'], grad: true }).then((o) => o.loss.dispose());
  const ga = await a.backward({ loss: 1 });
  const peakKept = memoryStats().cpu.peak - base;
  const wantGrad = ga.input!.data();
  ga.input!.dispose();
  a.dispose();

  const b = g.compile();
  const base2 = memoryStats().cpu.bytes;
  resetMemoryPeak();
  const r = await b.gradient(x, { loss: 1 });
  const peakFreed = memoryStats().cpu.peak - base2;
  expect(Array.from(r.gradients[0].input!.data())).toEqual(Array.from(wantGrad));
  // Nothing is kept after the last backward, and there is nothing left for another one.
  expect(b.memory().retained).toBe(0);
  await expect(b.backward({ loss: 1 })).rejects.toThrow('backward: no retained forward pass');
  expect(peakFreed).toBeLessThanOrEqual(peakKept - bytes);
  r.taps.loss.dispose();
  r.gradients[0].input!.dispose();
  b.dispose();
  x.dispose();
  weights.forEach((w) => w.dispose());
});

test('several seed sets on one gradient() still share the kept forward pass', async () => {
  const { g, weights } = chain(16, 4, 3);
  const net = g.compile();
  const x = input(16, 4);
  const r = await net.gradient(x, () => [{ loss: 1 }, { loss: 2 }, { loss: 1 }], { taps: ['loss'] });
  const [one, two, again] = r.gradients.map((s) => s.input!.data());
  expect(Array.from(again)).toEqual(Array.from(one));
  two.forEach((v, i) => expect(v).toBeCloseTo(2 * one[i], 4));
  r.gradients.forEach((s) => s.input!.dispose());
  r.taps.loss.dispose();
  net.dispose();
  x.dispose();
  weights.forEach((w) => w.dispose());
});

test('repeated forward+backward at 512 px takes no fresh pages for the 3 MB input gradient', async () => {
  const { g, weights } = chain(512, 4, 1, 3);
  const net = g.compile();
  const x = input(512, 3);
  const step = async () => {
    const r = await net.gradient(x, { loss: 1 });
    r.taps.loss.dispose();
    r.gradients[0].input!.dispose();
  };
  for (let i = 0; i < 3; ++i) await step();
  const calls = 8;
  const before = process.resourceUsage().minorPageFault;
  for (let i = 0; i < calls; ++i) await step();
  const perCall = (process.resourceUsage().minorPageFault - before) / calls;
  // A fresh input gradient alone is 768 pages of 4 KiB per call.
  expect(perCall).toBeLessThan(200);
  const pool = net.memory().pool;
  for (let i = 0; i < 3; ++i) await step();
  expect(net.memory().pool).toBe(pool); // steady: the same buffers go round
  net.dispose();
  x.dispose();
  weights.forEach((w) => w.dispose());
});
