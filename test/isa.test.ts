// One binary for every x86-64 machine: the CPU kernels pick AVX-512, AVX2 or generic code at run
// time, and EYECANDY_ISA caps that choice, so the AVX2 and generic paths (what a prebuilt addon
// runs on older machines) are tested here on an AVX-512 one and must agree with the widest path.
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const RANKS = ['generic', 'sse4.2', 'avx2', 'avx512'];

// A 3×3 stride-1 conv (Winograd or im2col + GEMM), ReLU, a depthwise 3×3, a 1×1 conv and pooling, forward and the
// gradient to the input, on seeded data; prints the SIMD level and both results.
const child = `
const { Graph, Tensor } = require(${JSON.stringify(path.join(root, 'dist/index.js'))});
const { addon } = require(${JSON.stringify(path.join(root, 'dist/native.js'))});
let s = 7; const rnd = (n) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
const g = new Graph();
const x = g.input('x', [1, -1, -1, 24]);
g.conv2d('c1', x, { kernel: Tensor.from(rnd(3 * 3 * 24 * 40), [3, 3, 24, 40]), bias: Tensor.from(rnd(40), [40]), padding: 'same' });
g.relu('r1', 'c1');
g.conv2d('dw', 'r1', { kernel: Tensor.from(rnd(3 * 3 * 40), [3, 3, 1, 40]), padding: 'same', groups: 40 });
g.conv2d('c2', 'dw', { kernel: Tensor.from(rnd(40 * 16), [1, 1, 40, 16]) });
g.maxPool('p', 'c2', { size: 2 });
g.sumSquares('s', 'p');
const n = g.compile();
(async () => {
  const input = Tensor.from(rnd(34 * 30 * 24), [1, 34, 30, 24]);
  const { taps, gradients } = await n.gradient(input, { s: 1 }, { taps: ['p', 's'] });
  process.stdout.write(JSON.stringify({ simd: addon().info().simd, y: Array.from(taps.p.data()), gx: Array.from(gradients[0].input.data()) }));
})();`;

function run(isa?: string) {
  const env = { ...process.env };
  delete env.EYECANDY_ISA;
  if (isa) env.EYECANDY_ISA = isa;
  return JSON.parse(execFileSync(process.execPath, ['-e', child], { env, encoding: 'utf8' })) as { simd: string; y: number[]; gx: number[] };
}

function maxRelDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  const scale = Math.max(...b.map(Math.abs));
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale;
}

test('EYECANDY_ISA=avx2 and =generic run those paths and agree with the widest one', () => {
  const widest = run();
  expect(RANKS).toContain(widest.simd);
  expect(widest.y.length).toBe(17 * 15 * 16);
  for (const isa of ['avx2', 'generic']) {
    const r = run(isa);
    expect(r.simd).toBe(RANKS[Math.min(RANKS.indexOf(isa), RANKS.indexOf(widest.simd))]);
    expect(maxRelDiff(r.y, widest.y)).toBeLessThan(1e-5);
    expect(maxRelDiff(r.gx, widest.gx)).toBeLessThan(1e-5);
  }
});

test('an unknown EYECANDY_ISA is an error that names it and the choices', () => {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(root, 'dist/index.js'))}).doctor()`], {
    env: { ...process.env, EYECANDY_ISA: 'avx1024' },
    encoding: 'utf8',
  });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain("EYECANDY_ISA='avx1024' is not one of avx512, avx2, sse4.2, generic");
});
