// What a compiled network costs per call once warm: the last backward of a
// gradient() frees the kept activations as it reads them (so the earlier
// layers' gradients reuse that memory), pointwise backward runs in place, and
// buffers handed to the caller come back to the network's pool once dropped,
// so repeated calls take no fresh pages.
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';

import { Graph, Tensor } from '../../src/ts';

const run = promisify(execFile);

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
  // The native peak is process-wide: a network left by an earlier test file and collected
  // mid-measurement lowers it. So both passes run in a fresh process on the built package.
  const size = 64;
  const channels = 16;
  const bytes = size * size * channels * 4; // one activation
  const dist = path.resolve(__dirname, '../../dist');
  const script = `
    const { Graph, Tensor, memoryStats, resetMemoryPeak } = require(${JSON.stringify(dist)});
    const size = ${size}, channels = ${channels};
    const g = new Graph();
    let x = g.input('x', [1, size, size, channels]);
    for (let i = 0; i < 6; ++i) {
      const k = new Float32Array(9 * channels * channels).map((_, j) => Math.sin(j * 0.37 + i) * 0.2);
      g.conv2d('c' + i, x, { kernel: Tensor.from(k, [3, 3, channels, channels]), padding: 'same' });
      x = g.relu('r' + i, 'c' + i);
    }
    g.sumSquares('loss', x);
    const input = Tensor.from(new Float32Array(size * size * channels).map((_, i) => Math.cos(i * 0.11)), [1, size, size, channels]);
    (async () => {
      // forward({grad}) then backward(): everything kept stays until the pass is over.
      const a = g.compile();
      const base = memoryStats().cpu.bytes;
      resetMemoryPeak();
      (await a.forward(input, { taps: ['loss'], grad: true })).loss.dispose();
      const ga = await a.backward({ loss: 1 });
      const peakKept = memoryStats().cpu.peak - base;
      const want = Array.from(ga.input.data());
      ga.input.dispose();
      a.dispose();
      const b = g.compile();
      const base2 = memoryStats().cpu.bytes;
      resetMemoryPeak();
      const r = await b.gradient(input, { loss: 1 });
      const peakFreed = memoryStats().cpu.peak - base2;
      const same = Array.from(r.gradients[0].input.data()).every((v, i) => v === want[i]);
      let again = '';
      await b.backward({ loss: 1 }).catch((e) => (again = e.message));
      process.stdout.write(JSON.stringify({ peakKept, peakFreed, same, retained: b.memory().retained, again }));
    })();`;
  const { stdout } = await run(process.execPath, ['-e', script], { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout);
  expect(r.same).toBe(true);
  // Nothing is kept after the last backward, and there is nothing left for another one.
  expect(r.retained).toBe(0);
  expect(r.again).toContain('backward: no retained forward pass');
  expect(r.peakFreed).toBeLessThanOrEqual(r.peakKept - bytes);
}, 60000);

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

test('a number seed at a large tap is made once, not per call (no fresh pages), and stays correct', async () => {
  // The seed fills the last ReLU's output: 512 x 512 x 4 floats, 4 MiB, 1024 fresh pages
  // per call if it were made anew.
  const { g, weights } = chain(512, 4, 1, 3);
  const net = g.compile();
  const x = input(512, 3);
  const grad = async (seed: number, read = true) => {
    const t = await net.forward(x, { taps: ['r0'], grad: true });
    t.r0.dispose();
    const r = await net.backward({ r0: seed });
    const d = read ? r.input!.data() : new Float32Array(0); // data() copies into fresh JS memory
    r.input!.dispose();
    return d;
  };
  const one = await grad(1);
  await grad(1, false);
  const calls = 6;
  const before = process.resourceUsage().minorPageFault;
  for (let i = 0; i < calls; ++i) await grad(1, false);
  const perCall = (process.resourceUsage().minorPageFault - before) / calls;
  expect(perCall).toBeLessThan(200);
  // Another value is another seed; after release() the cached seeds are gone and made again.
  const two = await grad(2);
  let worst = 0;
  let scale = 0;
  two.forEach((v, i) => ((worst = Math.max(worst, Math.abs(v - 2 * one[i]))), (scale = Math.max(scale, Math.abs(one[i])))));
  expect(scale).toBeGreaterThan(0);
  expect(worst).toBeLessThan(1e-5 * scale);
  const differing = (a: Float32Array, b: Float32Array) => a.reduce((n, v, i) => n + (v === b[i] ? 0 : 1), 0);
  await net.release();
  expect(differing(await grad(1), one)).toBe(0);
  // The same gradient as an explicit seed tensor.
  const t = await net.forward(x, { taps: ['r0'], grad: true });
  const ones = Tensor.from(new Float32Array(t.r0.size).fill(1), t.r0.shape);
  t.r0.dispose();
  const r = await net.backward({ r0: ones });
  expect(differing(r.input!.data(), one)).toBe(0);
  r.input!.dispose();
  ones.dispose();
  net.dispose();
  x.dispose();
  weights.forEach((w) => w.dispose());
});
