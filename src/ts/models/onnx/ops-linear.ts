// Gemm and MatMul (constant B folded into dense kernels) and the Reduce ops
// (built on global average pooling).
import { NodeRef } from '../../nn/graph';
import { NodeValue } from './context';
import { isIdentityPerm, knownProduct, normAxis, reshapeTarget } from './layout';
import { binary, constValue } from './ops-math';
import { OpConverter } from './ops-nn';
import { asFloat32, ConstTensor, numel, transposeConst } from './tensor-data';

/** Y = alpha * A' B' + beta * C, with B constant: a dense layer whose kernel is alpha * B'. */
const gemm: OpConverter = (cx) => {
  const a = cx.nodeInput(0);
  if (a.shape.length !== 2) cx.fail(`A must be a matrix but has shape [${a.shape.join(',')}]`);
  const b = cx.constInput(1, 'B');
  if (b.dims.length !== 2) cx.fail(`B must be a matrix but has dims [${b.dims.join(',')}]`);
  const alpha = cx.float('alpha', 1);
  const beta = cx.float('beta', 1);
  const bt = cx.int('transB', 0) ? transposeConst(b, [1, 0]) : b;
  const [k, n] = bt.dims;
  const kernel = cx.param('kernel', { dims: bt.dims, data: asFloat32(bt).map((v) => v * alpha) });
  let input = a.ref;
  let m = a.shape[0];
  if (cx.int('transA', 0)) {
    input = cx.graph.transpose(cx.aux('transpose_a'), a.ref, [1, 0]);
    m = a.shape[1];
  }
  const ka = cx.int('transA', 0) ? a.shape[0] : a.shape[1];
  if (ka >= 0 && ka !== k) cx.fail(`A has ${ka} columns but B has ${k} rows`);
  const c = cx.has(2) ? cx.value(2) : undefined;
  // A C that broadcasts as one row becomes the dense bias; a full matrix is added after.
  if (c?.kind === 'const' && c.c.dims.every((d, i) => d === 1 || (i === c.c.dims.length - 1 && d === n)) && c.c.dims.length <= 2) {
    const row = new Float32Array(n);
    for (let j = 0; j < n; ++j) row[j] = beta * c.c.data[c.c.data.length === 1 ? 0 : j];
    const bias = cx.param('bias', { dims: [n], data: row });
    cx.define(0, cx.graph.dense(cx.name(), input, { kernel, bias }), [m, n], 'plain');
    return;
  }
  if (!c) {
    cx.define(0, cx.graph.dense(cx.name(), input, { kernel }), [m, n], 'plain');
    return;
  }
  const y: NodeValue = { kind: 'node', ref: cx.graph.dense(cx.aux('matmul'), input, { kernel }), shape: [m, n], layout: 'plain' };
  let scaledC = c;
  if (beta !== 1) {
    if (c.kind !== 'const') return cx.fail('beta != 1 needs a constant C');
    scaledC = constValue({ dims: c.c.dims, data: asFloat32(c.c).map((v) => v * beta) });
  }
  const out = binary(cx, 'add', y, scaledC, cx.name());
  cx.define(0, out.ref, out.shape, out.layout);
};

/** B [b..., K, N] -> the block-diagonal [T*K, T*N] kernel that applies each batch's matrix to its own slice. */
function blockDiagonal(b: ConstTensor): ConstTensor {
  const r = b.dims.length;
  const [k, n] = [b.dims[r - 2], b.dims[r - 1]];
  const t = numel(b.dims.slice(0, r - 2));
  const out = new Float32Array(t * k * t * n);
  const src = asFloat32(b);
  for (let i = 0; i < t; ++i)
    for (let row = 0; row < k; ++row)
      for (let col = 0; col < n; ++col) out[(i * k + row) * (t * n) + i * n + col] = src[(i * k + row) * n + col];
  return { dims: [t * k, t * n], data: out };
}

/** A @ B with B constant. */
const matmul: OpConverter = (cx) => {
  const a = cx.nodeInput(0);
  const b = cx.constInput(1, 'B');
  const ra = a.shape.length;
  const rb = b.dims.length;
  if (rb < 2) cx.fail('a 1-D B is not supported');
  if (ra < 1) cx.fail('A must have rank >= 1');
  const [k, n] = [b.dims[rb - 2], b.dims[rb - 1]];
  if (a.shape[ra - 1] >= 0 && a.shape[ra - 1] !== k) cx.fail(`A has ${a.shape[ra - 1]} columns but B has ${k} rows`);
  const batch = b.dims.slice(0, rb - 2);
  if (batch.every((d) => d === 1) && (ra >= rb || rb === 2)) {
    // One matrix for every row: a dense layer over the last axis (a 1-D A gives a 1-D result, as in ONNX).
    const kernel = cx.param('kernel', { dims: [k, n], data: asFloat32(b) });
    cx.define(0, cx.graph.dense(cx.name(), cx.plain(a), { kernel }), [...a.shape.slice(0, -1), n], 'plain');
    return;
  }
  const aBatch = a.shape.slice(0, ra - 2);
  if (ra !== rb || aBatch.some((d, i) => d >= 0 && d !== batch[i]))
    cx.fail(`batched MatMul needs A's batch dims to equal B's: A [${a.shape.join(',')}], B [${b.dims.join(',')}]`);
  // [b..., M, K] -> [M, b..., K] -> [M, T*K] -> dense(block diagonal) -> [M, T*N] -> [M, b..., N] -> [b..., M, N].
  const r = ra;
  const front = [r - 2, ...Array.from({ length: r - 2 }, (_, i) => i), r - 1];
  const t = numel(batch);
  const moved = cx.graph.transpose(cx.aux('rows_first'), cx.plain(a), front);
  const flat = cx.graph.reshape(cx.aux('flatten'), moved, [-1, t * k]);
  const kernel = cx.param('kernel', blockDiagonal(b));
  const y = cx.graph.dense(cx.aux('matmul'), flat, { kernel });
  const m = a.shape[r - 2];
  const split = cx.graph.reshape(cx.aux('split'), y, [-1, ...batch, n]);
  const back = [...Array.from({ length: r - 2 }, (_, i) => i + 1), 0, r - 1];
  cx.defineTranspose(0, { kind: 'node', ref: split, shape: [m, ...batch, n], layout: 'plain' }, back);
};

/**
 * ReduceMean / ReduceSum / ReduceSumSquare: the reduced axes are moved last
 * and folded into the height of a [kept, reduced, 1, 1] image, which a global
 * average pool reduces; sums scale the mean back up.
 */
function reduce(kind: 'mean' | 'sum' | 'sumSquare'): OpConverter {
  return (cx) => {
    const x = cx.nodeInput(0);
    const r = x.shape.length;
    // ReduceSum took axes as an input from opset 13, the others from opset 18.
    const axesFromInput = kind === 'sum' ? cx.opset >= 13 : cx.opset >= 18;
    let axes = axesFromInput ? (cx.has(1) ? cx.intsInput(1, 'axes') : []) : cx.ints('axes', []);
    const keep = cx.int('keepdims', 1) === 1;
    if (!axes.length) {
      if (cx.int('noop_with_empty_axes', 0) === 1 && kind !== 'sumSquare') {
        cx.alias(0, x);
        return;
      }
      axes = Array.from({ length: r }, (_, i) => i);
    }
    const norm = axes.map((ax) => normAxis(ax, r) ?? cx.fail(`axis ${ax} is out of range for rank ${r}`));
    const reduced = [...new Set(norm)].sort((p, q) => p - q);
    const kept = Array.from({ length: r }, (_, i) => i).filter((i) => !reduced.includes(i));
    const count = knownProduct(reduced.map((i) => x.shape[i]));
    if (count < 0) cx.fail('the reduced dimensions must have known sizes');
    let src: NodeRef = cx.plain(x);
    if (kind === 'sumSquare') src = cx.graph.mul(cx.aux('square'), src, src);
    const perm = [...kept, ...reduced];
    if (!isIdentityPerm(perm)) src = cx.graph.transpose(cx.aux('reduced_last'), src, perm);
    const img = cx.graph.reshape(cx.aux('as_image'), src, [-1, count, 1, 1]);
    let y = cx.graph.globalAvgPool(cx.aux('mean'), img);
    if (kind !== 'mean') y = cx.graph.mul(cx.aux('sum'), y, cx.scalar('count', count));
    const shape = keep ? x.shape.map((d, i) => (reduced.includes(i) ? 1 : d)) : kept.map((i) => x.shape[i]);
    const target = reshapeTarget(shape) ?? cx.fail('needs at most one unknown kept dimension');
    cx.define(0, cx.graph.reshape(cx.name(), y, target), shape, 'plain');
  };
}

export const LINEAR_OPS: Record<string, OpConverter> = {
  Gemm: gemm,
  MatMul: matmul,
  ReduceMean: reduce('mean'),
  ReduceSum: reduce('sum'),
  ReduceSumSquare: reduce('sumSquare'),
};
