// A network's calls run one at a time in the order made, and gradient() runs a
// forward and its backward passes as one unit, so concurrent callers need no lock.
import { Graph, Tensor } from '../../src/ts';
import { Seeds } from '../../src/ts/nn/network';
import { randomData } from '../helpers';

function net() {
  const g = new Graph();
  const x = g.input('x', [1, -1, -1, 2]);
  g.conv2d('c', x, { kernel: Tensor.from(randomData([3, 3, 2, 4], 7), [3, 3, 2, 4]), padding: 'same' });
  g.relu('r', 'c');
  g.sumSquares('s', 'r');
  return g.compile();
}

const input = (seed: number) => Tensor.from(randomData([1, 5, 6, 2], seed), [1, 5, 6, 2]);

test('gradient() equals forward({grad}) then backward()', async () => {
  const n = net();
  const x = input(1);
  await n.forward(x, { taps: ['s'], grad: true });
  const want = (await n.backward({ s: 1 })).input!.data();
  const { taps, gradients } = await n.gradient(x, { s: 1 });
  expect(taps.s.item()).toBeGreaterThan(0);
  expect(gradients).toHaveLength(1);
  expect(Array.from(gradients[0].input!.data())).toEqual(Array.from(want));
});

test('seeds computed from the taps, several sets on one forward, handed over one by one', async () => {
  const n = net();
  const x = input(2);
  const seen: number[][] = [];
  const r = await n.gradient(x, (t): Seeds[] => [{ r: Tensor.from(new Float32Array(t.r.size).fill(1), t.r.shape) }, { s: 2 }], {
    taps: ['r', 's'],
    onGradients: (g, i) => void (seen[i] = Array.from(g.input!.data())),
  });
  expect(r.gradients).toEqual([]);
  expect(seen).toHaveLength(2);
  await n.forward(x, { taps: ['r', 's'], grad: true });
  const ones = (await n.backward({ r: Tensor.from(new Float32Array(r.taps.r.size).fill(1), r.taps.r.shape) })).input!.data();
  await n.forward(x, { taps: ['s'], grad: true });
  const twice = (await n.backward({ s: 2 })).input!.data();
  expect(seen[0]).toEqual(Array.from(ones));
  expect(seen[1]).toEqual(Array.from(twice));
});

test('concurrent gradient() calls give what they give alone; forward/backward pairs would not', async () => {
  const n = net();
  const [a, b] = [input(3), input(4)];
  const alone = [(await n.gradient(a, { s: 1 })).gradients[0].input!.data(), (await n.gradient(b, { s: 1 })).gradients[0].input!.data()];
  const together = await Promise.all([n.gradient(a, { s: 1 }), n.forward(b, { taps: ['s'], grad: true }), n.gradient(b, { s: 1 })]);
  expect(Array.from(together[0].gradients[0].input!.data())).toEqual(Array.from(alone[0]));
  expect(Array.from(together[2].gradients[0].input!.data())).toEqual(Array.from(alone[1]));
  // The same race with separate calls: a's backward reads b's activations.
  const [, , g] = await Promise.all([n.forward(a, { taps: ['s'], grad: true }), n.forward(b, { taps: ['s'], grad: true }), n.backward({ s: 1 })]);
  expect(Array.from(g.input!.data())).toEqual(Array.from(alone[1]));
});

test('release() and setParam() wait for the calls queued before them', async () => {
  const n = net();
  const pending = n.gradient(input(5), { s: 1 });
  const released = n.release();
  const kernel = Tensor.zeros([3, 3, 2, 4]);
  const set = n.setParam('c/kernel', kernel);
  const before = await pending;
  expect(before.taps.s.item()).toBeGreaterThan(0); // ran with the old kernel
  await released;
  await set;
  expect((await n.forward(input(5), { taps: ['s'] })).s.item()).toBe(0);
  // With nothing queued both act at once; a bad value throws at the call.
  expect(() => n.setParam('c/kernel', Tensor.zeros([5]))).toThrow("setParam: parameter 'c/kernel' has shape [3,3,2,4] but the new value has [5]");
  await n.forward(input(6), { taps: ['s'], grad: true });
  expect(n.memory().retained).toBeGreaterThan(0);
  n.release();
  expect(n.memory().retained).toBe(0);
});

test('gradient() checks its arguments', async () => {
  const n = net();
  await expect(n.gradient(input(1), 3 as never)).rejects.toThrow(
    'gradient: Expected gradients by tap name or a function of the taps for seeds but received 3 of type number',
  );
  await expect(n.gradient(input(1), { s: 1 }, { taps: ['nope'] })).rejects.toThrow("forward: no node named 'nope'");
});

test('forwardSync() returns what forward() resolves to, keeps grad for backward(), and refuses to overlap a queued call', async () => {
  const n = net();
  const x = input(3);
  const want = (await n.forward(x, { taps: ['r', 's'] }));
  const got = n.forwardSync(x, { taps: ['r', 's'] });
  expect(Array.from(got.r.data())).toEqual(Array.from(want.r.data()));
  expect(got.s.item()).toBe(want.s.item());

  n.forwardSync(x, { taps: ['s'], grad: true });
  const g = (await n.backward({ s: 1 })).input!.data();
  expect(Array.from(g)).toEqual(Array.from((await n.gradient(x, { s: 1 })).gradients[0].input!.data()));

  const running = n.forward(x, { taps: ['s'] });
  expect(() => n.forwardSync(x, { taps: ['s'] })).toThrow(/still queued or running; await them first/);
  await running;
  const bad = Tensor.from(new Float32Array(60).fill(NaN), [1, 5, 6, 2]);
  expect(() => n.forwardSync(bad)).toThrow(/forwardSync input: element 0 .* is NaN/);
  expect(() => n.forwardSync(Tensor.from(new Float32Array(6), [1, 1, 2, 3]))).toThrow(/input 'x' expects shape \[1,-1,-1,2\] .* but received \[1,1,2,3\]/);
});
