// L-BFGS and Adam on small objectives built as Graphs (so the gradients come
// from the native backward): least squares, Rosenbrock, box bounds, abort.
import { Graph, Tensor } from '../../src/ts';
import { Network } from '../../src/ts/nn/network';
import { adam, lbfgs, Objective } from '../../src/ts/optim';
import { rng } from '../helpers';

const nets: Network[] = [];
afterAll(() => nets.forEach((n) => n.dispose()));

/** f(x) = Σ (A·x - b)², x of shape [1, n]; A is m×n row-major. */
function leastSquares(a: number[][], b: number[]): Objective {
  const m = a.length;
  const n = a[0].length;
  const g = new Graph();
  g.input('x', [1, n]);
  const kernel = new Float32Array(n * m);
  for (let i = 0; i < m; ++i) for (let j = 0; j < n; ++j) kernel[j * m + i] = a[i][j]; // dense is x·W, W [n, m]
  g.dense('ax', 'x', { kernel: Tensor.from(kernel, [n, m]), bias: Tensor.from(b.map((v) => -v), [m]) });
  g.sumSquares('loss', 'ax');
  return objective(g);
}

/** The n-dimensional Rosenbrock function Σ (1 - x_i)² + 100 (x_{i+1} - x_i²)², minimum 0 at all ones. */
function rosenbrock(n: number): Objective {
  const g = new Graph();
  g.input('x', [1, n]);
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; ++i) eye[i * n + i] = -1;
  g.dense('one_minus_x', 'x', { kernel: Tensor.from(eye, [n, n]), bias: Tensor.from(new Array(n).fill(1), [n]) });
  g.mul('sq', 'x', 'x');
  const next = new Float32Array(n * (n - 1));
  const minusSq = new Float32Array(n * (n - 1));
  for (let i = 0; i < n - 1; ++i) {
    next[(i + 1) * (n - 1) + i] = 10;
    minusSq[i * (n - 1) + i] = -10;
  }
  g.dense('a', 'x', { kernel: Tensor.from(next, [n, n - 1]) });
  g.dense('b', 'sq', { kernel: Tensor.from(minusSq, [n, n - 1]) });
  g.add('valley', 'a', 'b');
  g.concat('r', ['one_minus_x', 'valley']);
  g.sumSquares('loss', 'r');
  return objective(g);
}

function objective(g: Graph): Objective {
  const net = g.compile();
  nets.push(net);
  return async (x) => {
    const out = await net.forward(x, { taps: ['loss'], grad: true });
    const loss = out.loss.item();
    out.loss.dispose();
    const { input } = await net.backward({ loss: 1 });
    return { loss, grad: input! };
  };
}

const values = (t: Tensor) => Array.from(t.data());

test('L-BFGS solves a least-squares problem to its normal-equation solution', async () => {
  const r = rng(3);
  const a = Array.from({ length: 8 }, () => Array.from({ length: 5 }, () => r() * 2 - 1));
  const truth = [0.5, -1, 2, 0.25, -0.75];
  const b = a.map((row) => row.reduce((s, v, j) => s + v * truth[j], 0));
  const res = await lbfgs(leastSquares(a, b), Tensor.zeros([1, 5]), { maxIterations: 100 });
  values(res.x).forEach((v, i) => expect(v).toBeCloseTo(truth[i], 3));
  expect(res.loss).toBeLessThan(1e-6);
  expect(res.iterations).toBeLessThan(30);
  expect(res.history.length).toBe(res.iterations + 1);
  expect(res.reason).not.toBe('iterations'); // converged (or stopped at float32 precision)
  res.x.dispose();
});

test('L-BFGS finds the minimum of the 4-D Rosenbrock function', async () => {
  const x0 = Tensor.from([-1.2, 1, -1.2, 1], [1, 4]);
  const seen: number[] = [];
  const res = await lbfgs(rosenbrock(4), x0, { maxIterations: 300, onIteration: (it) => void seen.push(it) });
  values(res.x).forEach((v) => expect(v).toBeCloseTo(1, 2));
  expect(res.loss).toBeLessThan(1e-5);
  expect(seen).toEqual(Array.from({ length: res.iterations }, (_, i) => i + 1));
  expect(values(x0)).toEqual([-1.2, 1, -1.2, 1].map(Math.fround)); // x0 untouched
  // The history only goes down (Armijo).
  res.history.slice(1).forEach((v, i) => expect(v).toBeLessThanOrEqual(res.history[i]));
  res.x.dispose();
});

test('bounds: the solution sits on the bound where the free minimum lies outside', async () => {
  // Separable: the bounded minimum is the clamped free one.
  const eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const bounds = { lo: [-1, -1, -1], hi: [1, 1, 1] };
  for (const run of [lbfgs, adam]) {
    const res = await run(leastSquares(eye, [3, -2, 0.5]), Tensor.zeros([1, 3]), {
      maxIterations: 300,
      bounds,
      ...(run === adam ? { learningRate: 0.05 } : {}),
    });
    const [x, y, z] = values(res.x);
    expect(x).toBe(1);
    expect(y).toBe(-1);
    expect(z).toBeCloseTo(0.5, 3);
    res.x.dispose();
  }
});

test('a one-sided box (infinite upper bounds) works too', async () => {
  const eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const bounds = { lo: [0, 0, 0], hi: [Infinity, Infinity, Infinity] };
  const res = await lbfgs(leastSquares(eye, [3, -2, 0.5]), Tensor.zeros([1, 3]), { maxIterations: 100, bounds });
  const [x, y, z] = values(res.x);
  expect(x).toBeCloseTo(3, 3);
  expect(y).toBe(0);
  expect(z).toBeCloseTo(0.5, 3);
  res.x.dispose();
});

test('bounds with coupled variables: L-BFGS meets the KKT conditions', async () => {
  const r = rng(11);
  const a = Array.from({ length: 6 }, () => Array.from({ length: 6 }, () => r() * 2 - 1));
  const b = a.map(() => r() * 8 - 4);
  const f = leastSquares(a, b);
  const lo = new Array(6).fill(-0.5);
  const hi = new Array(6).fill(0.5);
  const res = await lbfgs(f, Tensor.zeros([1, 6]), { maxIterations: 200, bounds: { lo, hi } });
  const { grad } = await f(res.x);
  const g = values(grad);
  const x = values(res.x);
  let onBound = 0;
  x.forEach((v, i) => {
    expect(v).toBeGreaterThanOrEqual(lo[i]);
    expect(v).toBeLessThanOrEqual(hi[i]);
    if (v === lo[i]) expect(g[i]).toBeGreaterThan(-1e-3), onBound++;
    else if (v === hi[i]) expect(g[i]).toBeLessThan(1e-3), onBound++;
    else expect(Math.abs(g[i])).toBeLessThan(1e-3);
  });
  expect(onBound).toBeGreaterThan(0);
  [grad, res.x].forEach((t) => t.dispose());
});

test('Adam reaches the least-squares minimum', async () => {
  const a = [[2, 1], [1, 3], [0, 1]];
  const truth = [1.5, -0.5];
  const b = a.map((row) => row[0] * truth[0] + row[1] * truth[1]);
  const res = await adam(leastSquares(a, b), Tensor.zeros([1, 2]), { maxIterations: 2000, learningRate: 0.05 });
  values(res.x).forEach((v, i) => expect(v).toBeCloseTo(truth[i], 2));
  expect(res.history[res.history.length - 1]).toBeLessThan(res.history[0] * 1e-4);
  res.x.dispose();
});

test('an AbortSignal stops both optimizers between iterations', async () => {
  for (const run of [lbfgs, adam]) {
    const controller = new AbortController();
    let last = 0;
    const p = run(rosenbrock(4), Tensor.from([-1.2, 1, -1.2, 1], [1, 4]), {
      maxIterations: 1000,
      signal: controller.signal,
      learningRate: 0.001,
      onIteration: (it: number) => {
        last = it;
        if (it === 3) controller.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError', message: `${run.name}: aborted` });
    expect(last).toBe(3);
  }
});

test('bad options are refused', async () => {
  const f = leastSquares([[1]], [1]);
  const x = Tensor.zeros([1, 1]);
  await expect(lbfgs(f, x, { maxIterations: 0 })).rejects.toThrow(
    'lbfgs: Expected integer between 1 and 1000000 for maxIterations but received 0 of type number',
  );
  await expect(lbfgs(f, x, { maxIterations: 5, history: 0 })).rejects.toThrow(
    'lbfgs: Expected integer between 1 and 100 for history but received 0 of type number',
  );
  await expect(lbfgs(f, x, { maxIterations: 5, bounds: { lo: [0, 0], hi: [1, 1] } })).rejects.toThrow(
    'lbfgs: Expected array of 1 numbers for bounds.lo but received [0,0] of type object',
  );
  await expect(lbfgs(f, x, { maxIterations: 5, bounds: { lo: [1], hi: [0] } })).rejects.toThrow(
    'lbfgs: Expected number >= 1 for bounds.hi[0] but received 0 of type number',
  );
  await expect(adam(f, x, { maxIterations: 5, learningRate: NaN })).rejects.toThrow(
    'adam: Expected finite number for learningRate but received NaN of type number',
  );
});
