// NaN and ±Infinity: refused where they enter (inputs, weights) with the place
// named, unless the caller opts out; the optimizers and dream stop with a
// reason on a non-finite loss, objective or gradient, and return no result.
import { Graph, Tensor } from '../../src/ts';
import { Model } from '../../src/ts/models/load';
import { adam, lbfgs, Objective } from '../../src/ts/optim';
import { dream } from '../../src/ts/tasks/dream';

function convNet(kernel: number[]): Graph {
  const g = new Graph();
  g.conv2d('c', g.input('x'), { kernel: Tensor.from(kernel, [1, 1, 1, 1]) });
  return g;
}

test('a NaN or Infinity in a forward input is an error naming the input and the element', async () => {
  const net = convNet([2]).compile();
  await expect(net.forward(Tensor.from([1, NaN, 3], [1, 1, 3, 1]))).rejects.toThrow(
    'forward input: element 1 (of 3, shape [1,1,3,1]) is NaN; expected finite numbers (pass allowNonFinite: true to run anyway)',
  );
  await expect(net.forward({ x: Tensor.from([1, 2, -Infinity], [1, 1, 3, 1]) })).rejects.toThrow(
    "forward input 'x': element 2 (of 3, shape [1,1,3,1]) is -Infinity",
  );
  await expect(net.gradient(Tensor.from([Infinity, 0, 0], [1, 1, 3, 1]), { c: 1 })).rejects.toThrow(
    'gradient input: element 0 (of 3, shape [1,1,3,1]) is Infinity',
  );
  // The opt-out, per call or for the network.
  const out = await net.forward(Tensor.from([1, NaN, 3], [1, 1, 3, 1]), { allowNonFinite: true });
  expect(Array.from(out.c.data())).toEqual([2, NaN, 6]);
  const lax = convNet([2]).compile({ allowNonFinite: true });
  expect(Array.from((await lax.forward(Tensor.from([NaN], [1, 1, 1, 1]))).c.data())).toEqual([NaN]);
  await expect(net.forward(Tensor.from([1], [1, 1, 1, 1]), { allowNonFinite: 'yes' as never })).rejects.toThrow(
    'forward: Expected true or false for allowNonFinite',
  );
  // Large finite values whose sum overflows are fine.
  const big = await net.forward(Tensor.from([3e38, 3e38, 3e38], [1, 1, 3, 1]));
  expect(big.c.data()[0]).toBe(Infinity); // the product overflows in the network, which is not an input fault
});

test('a non-finite weight is refused at compile and by setParam, unless allowed', async () => {
  expect(() => convNet([NaN]).compile()).toThrow(
    "compile: param 'c/kernel': element 0 (of 1, shape [1,1,1,1]) is NaN; expected finite numbers (pass allowNonFinite: true to run anyway)",
  );
  expect(() => convNet([NaN]).compile({ allowNonFinite: true })).not.toThrow();
  const net = convNet([1]).compile();
  expect(() => net.setParam('c/kernel', Tensor.from([Infinity], [1, 1, 1, 1]))).toThrow(
    "setParam 'c/kernel': element 0 (of 1, shape [1,1,1,1]) is Infinity",
  );
  expect(Array.from(net.param('c/kernel').data())).toEqual([1]);
});

test('the optimizers stop with the reason on a non-finite loss or gradient, returning nothing', async () => {
  // (x - 3)^2 that turns to NaN after a few evaluations.
  const after = (n: number, bad: 'loss' | 'grad'): Objective => {
    let calls = 0;
    return async (x) => {
      const v = x.data()[0];
      const poisoned = ++calls > n;
      return {
        loss: poisoned && bad === 'loss' ? NaN : (v - 3) ** 2,
        grad: Tensor.from([poisoned && bad === 'grad' ? NaN : 2 * (v - 3)], [1]),
      };
    };
  };
  const x0 = Tensor.from([0], [1]);
  await expect(adam(after(3, 'loss'), x0, { maxIterations: 50, learningRate: 0.1 })).rejects.toThrow(
    /^adam: stopped at iteration 4: the objective returned loss NaN; best finite loss \d/,
  );
  await expect(adam(after(3, 'grad'), x0, { maxIterations: 50, learningRate: 0.1 })).rejects.toThrow(
    /^adam: stopped at iteration 4: the gradient is not finite \(rms NaN\); best finite loss \d/,
  );
  await expect(lbfgs(after(0, 'loss'), x0, { maxIterations: 50 })).rejects.toThrow(
    'lbfgs: stopped at iteration 0: the objective returned loss NaN; no finite loss before it',
  );
  await expect(lbfgs(after(0, 'grad'), x0, { maxIterations: 50 })).rejects.toThrow(
    /^lbfgs: stopped at iteration 0: the gradient is not finite \(rms NaN\); best finite loss 9/,
  );
  expect(Array.from(x0.data())).toEqual([0]);
});

// A one-conv "model" whose huge weights overflow float32 in the dream objective.
function overflowingModel(scale: number): Model {
  const g = new Graph();
  const x = g.input('input', [-1, 32, 32, 3]);
  const kernel = Tensor.from(new Float32Array(3 * 3 * 3 * 4).fill(scale), [3, 3, 3, 4]);
  g.relu('conv1', g.conv2d('conv1/linear', x, { kernel, padding: 'same' }));
  return {
    graph: g,
    input: 'input',
    inputShape: [-1, 32, 32, 3],
    output: 'conv1',
    layers: ['conv1'],
    format: 'keras',
    name: `overflow-${scale}`,
    preprocess: { kind: 'minus_one_one' },
    inputSize: [32, 32],
  };
}

test('dream stops with the reason when the objective overflows, and makes no image', async () => {
  const img = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(200) };
  const opts = { layers: ['conv1'], octaves: 1, steps: 3, jitter: 0 };
  // A sane scale dreams; 1e30 overflows to Infinity in Σ A².
  const ok = await dream(img, { ...opts, model: overflowingModel(0.01) });
  expect(ok.image.width).toBe(32);
  await expect(dream(img, { ...opts, model: overflowingModel(1e30) })).rejects.toThrow(
    /^dream: stopped at step 1 of 3: the objective is not finite \(objective Infinity, .*\); no image was made/,
  );
});
