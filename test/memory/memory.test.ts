// Native memory seen from JS: live bytes per backend, what a network holds,
// tidy() keeping what it returns however it is nested, and tensors' native
// buffers reported to V8 so that forgotten ones are collected in time.
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';

import { Graph, memoryStats, Tensor, tidy } from '../../src/ts';
import { addon, addonPath } from '../../src/ts/native';

const run = promisify(execFile);
const MiB = 1024 * 1024;

test('memoryStats counts each live native buffer once, views included, until it is freed', () => {
  const before = memoryStats().cpu;
  const t = Tensor.zeros([256, 1024]); // 1 MiB
  const view = t.reshape([1024, 256]);
  const during = memoryStats().cpu;
  expect(during.bytes - before.bytes).toBe(MiB);
  expect(during.tensors - before.tensors).toBe(1);
  expect(during.peak).toBeGreaterThanOrEqual(during.bytes);
  t.dispose();
  expect(memoryStats().cpu.bytes - before.bytes).toBe(MiB); // the view still holds it
  view.dispose();
  const after = memoryStats().cpu;
  expect(after.bytes).toBe(before.bytes);
  expect(after.tensors).toBe(before.tensors);
  expect(memoryStats().cuda.bytes).toBe(0);
});

test('net.memory() reports its weights, what backward keeps and the pool', async () => {
  const g = new Graph();
  const x = g.input('x', [1, 8, 8, 4]);
  const k = Tensor.from(new Float32Array(3 * 3 * 4 * 16).fill(0.01), [3, 3, 4, 16]);
  g.conv2d('c', x, { kernel: k, bias: Tensor.zeros([16]), padding: 'same' });
  g.relu('r', 'c');
  const net = g.compile();
  const m0 = net.memory();
  expect(m0.weights).toBe((3 * 3 * 4 * 16 + 16) * 4);
  expect(m0.retained).toBe(0);
  const out = await net.forward(Tensor.zeros([1, 8, 8, 4]), { grad: true, taps: ['r'] });
  const m1 = net.memory();
  expect(m1.retained).toBeGreaterThan(0);
  expect(m1.total).toBe(m1.weights + m1.retained + m1.pool);
  out.r.dispose();
  net.dispose();
});

test('tidy keeps returned tensors held in Sets, Maps and deep nesting; disposes the rest', () => {
  let inner: Tensor[] = [];
  const result = tidy(() => {
    const a = Tensor.zeros([2]);
    const b = Tensor.zeros([2]);
    const c = Tensor.zeros([2]);
    const d = Tensor.zeros([2]);
    const e = Tensor.zeros([2]);
    inner = [a, b, c, d, e, Tensor.zeros([2])];
    const deep = { l1: { l2: { l3: { l4: { l5: { l6: [c] } } } } } };
    const cyclic: Record<string, unknown> = { e };
    cyclic.self = cyclic;
    return { set: new Set([a]), map: new Map<unknown, unknown>([[b, 'key'], ['v', d]]), deep, cyclic };
  });
  const [a, b, c, d, e, dropped] = inner;
  expect([a, b, c, d, e].map((t) => t.isDisposed)).toEqual([false, false, false, false, false]);
  expect(dropped.isDisposed).toBe(true);
  expect(result.set.has(a)).toBe(true);
  [a, b, c, d, e].forEach((t) => t.dispose());
});

/**
 * Runs `setup`, then `step` `count` times in a child process with no --expose-gc, one step per
 * event-loop turn, and gives how far RSS rose above its value after setup (MiB).
 */
async function rssGrowthMiB(setup: string, step: string, count: number): Promise<number> {
  const script = `
    ${setup}
    const start = process.memoryUsage.rss();
    (async () => {
      let peak = start;
      for (let i = 0; i < ${count}; ++i) {
        ${step}
        await new Promise((r) => setImmediate(r));
        peak = Math.max(peak, process.memoryUsage.rss());
      }
      process.stdout.write(JSON.stringify({ start, peak, gc: typeof gc }));
    })();`;
  const { stdout } = await run(process.execPath, ['-e', script], { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout);
  expect(r.gc).toBe('undefined'); // no --expose-gc: only the engine's own collections
  return (r.peak - r.start) / MiB;
}

test('forgotten tensors are collected as their native size demands, without a forced GC', async () => {
  // 300 undisposed clones of a 4 MiB tensor: 1.2 GB if the JS engine thinks they are small objects.
  addon();
  const setup = `const a = require(${JSON.stringify(addonPath())});
    const base = new a.NativeTensor(new Float32Array(1 << 20), [1 << 20]);`;
  expect(await rssGrowthMiB(setup, 'base.clone();', 300)).toBeLessThan(300);
}, 60000);

test('forgotten networks are collected with the activations they kept for backward', async () => {
  // 120 networks each keeping 8 MiB for backward, none disposed: about 1 GB if the JS engine
  // saw only their small handles. Runs the built package (dist/) in a child process.
  const dist = path.resolve(__dirname, '../../dist');
  const setup = `const { Graph, Tensor } = require(${JSON.stringify(dist)});
    const x = Tensor.from(new Float32Array(1 << 20).fill(0.5), [1, 256, 256, 16]);`;
  const step = `const g = new Graph();
        g.input('x', [1, 256, 256, 16]);
        g.relu('a', 'x');
        g.relu('b', 'a');
        g.sumSquares('loss', 'b');
        const out = await g.compile().forward(x, { taps: ['loss'], grad: true });
        out.loss.dispose();`;
  expect(await rssGrowthMiB(setup, step, 120)).toBeLessThan(400);
}, 60000);
