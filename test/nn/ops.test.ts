// The TypeScript op table against the addon and against the builder: every op
// the addon knows is typed here, and the flags keep their meaning.
import { Graph, opNames, Tensor } from '../../src/ts';
import { addon } from '../../src/ts/native';
import { OP_INFO, OP_NAMES, OpName } from '../../src/ts/nn/ops';

test('OP_INFO names exactly the addon\'s ops, in its order', () => {
  expect(OP_NAMES).toEqual(opNames());
});

test('OP_INFO gives every op the arity and flags of the native op table', () => {
  const table = addon().opTable();
  expect(table.map((r) => r.name)).toEqual(OP_NAMES);
  for (const r of table) {
    const { minInputs, maxInputs, pointwise, spatial, window } = OP_INFO[r.name as OpName];
    expect({ op: r.name, minInputs, maxInputs, pointwise, spatial, window }).toEqual({
      op: r.name, minInputs: r.minInputs, maxInputs: r.maxInputs, pointwise: r.pointwise, spatial: r.spatial, window: r.window,
    });
  }
});

test('flags: pointwise ops are spatial, window ops are spatial, no op is both pointwise and window', () => {
  const by = (f: 'pointwise' | 'spatial' | 'window') => OP_NAMES.filter((n) => OP_INFO[n][f]).sort();
  expect(by('pointwise')).toEqual(['abs', 'clip', 'leaky_relu', 'relu', 'sigmoid', 'tanh']);
  expect(by('window')).toEqual(['avg_pool', 'conv2d', 'max_pool']);
  expect(by('spatial')).toEqual(
    ['abs', 'add', 'avg_pool', 'batch_norm', 'clip', 'concat', 'conv2d', 'leaky_relu', 'lrn', 'max_pool', 'mul', 'pad', 'relu', 'sigmoid', 'tanh'],
  );
});

test('a built node carries its op\'s typed attributes with the wire keys', () => {
  const g = new Graph();
  const x = g.input('x', [1, -1, -1, 2]);
  g.conv2d('c', x, { kernel: Tensor.zeros([3, 3, 2, 2]), strides: [2, 1], padding: 'same' });
  g.maxPool('p', 'c', { size: 2 });
  const nodes = g.nodes();
  const c = nodes.find((d) => d.name === 'c');
  const p = nodes.find((d) => d.name === 'p');
  if (c?.kind !== 'op' || c.op !== 'conv2d' || p?.kind !== 'op' || p.op !== 'max_pool') throw new Error('unexpected nodes');
  expect(c.attrs).toEqual({ strides: [2, 1], dilations: [1, 1], groups: 1, padMode: 'same_upper' });
  expect(p.attrs.kernel).toEqual([2, 2]);
  expect(p.attrs.strides).toEqual([2, 2]);
  // Arity in the table matches what the builder emitted (conv2d: input + kernel).
  const arity = (op: OpName, n: number) => n >= OP_INFO[op].minInputs && (OP_INFO[op].maxInputs < 0 || n <= OP_INFO[op].maxInputs);
  expect(arity('conv2d', c.inputs.length)).toBe(true);
  expect(arity('max_pool', p.inputs.length)).toBe(true);
});
