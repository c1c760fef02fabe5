// Shape and data-movement ops: Reshape, Flatten, Squeeze/Unsqueeze, Transpose,
// Concat, Pad, plus pass-throughs (Identity, Dropout) and constants (Constant,
// Shape, Cast). Ops on constants are folded at load time.
import { NodeRef } from '../../nn/graph';
import { Context, NodeValue, Value } from './context';
import { nhwcAxis, normAxis, permute, reshapeTarget, TO_NHWC } from './layout';
import { shapeOf } from './ops-math';
import { OpConverter } from './ops-nn';
import { ConstTensor, numel, transposeConst } from './tensor-data';

/** The ONNX Reshape rule: 0 copies the input dim (unless allowzero), one -1 is inferred. */
function reshapeDims(cx: Context, input: number[], target: number[]): number[] {
  const out = target.map((d, i) => (d === 0 ? (i < input.length ? input[i] : cx.fail(`shape [${target.join(',')}] copies dimension ${i}, which the input lacks`)) : d));
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1 || out.some((d) => d < -1)) cx.fail(`shape [${target.join(',')}] is not a valid reshape target`);
  const total = numel(input.map((d) => (d < 0 ? NaN : d)));
  const known = numel(out.filter((d) => d !== -1));
  const at = out.indexOf(-1);
  if (at >= 0 && Number.isFinite(total) && known > 0) out[at] = total / known;
  if (Number.isFinite(total) && !out.includes(-1) && numel(out) !== total)
    cx.fail(`cannot reshape [${input.join(',')}] to [${target.join(',')}]`);
  return out;
}

/** Publishes `x` reshaped to the ONNX shape `dims` (folded for constants). */
function reshapeTo(cx: Context, x: Value, dims: number[], attrShape?: number[]): void {
  if (x.kind === 'const') {
    cx.defineConst(0, { dims, data: x.c.data });
    return;
  }
  const v = x as NodeValue;
  const target = attrShape ?? reshapeTarget(dims) ?? cx.fail(`needs a known input shape (has [${v.shape.join(',')}])`);
  cx.define(0, cx.graph.reshape(cx.name(), cx.plain(v), target), dims, 'plain');
}

const reshape: OpConverter = (cx) => {
  const x = cx.value(0);
  const target = cx.opset < 5 ? cx.ints('shape') : cx.intsInput(1, 'the target shape');
  if (cx.int('allowzero', 0) === 1 && target.includes(0))
    cx.fail('allowzero=1 with a 0 in the shape (an empty dimension) is not supported');
  reshapeTo(cx, x, reshapeDims(cx, shapeOf(x), target), x.kind === 'node' ? target : undefined);
};

const flatten: OpConverter = (cx) => {
  const x = cx.value(0);
  const s = shapeOf(x);
  const attr = cx.int('axis', 1);
  const axis = attr < 0 ? attr + s.length : attr;
  if (axis < 0 || axis > s.length) cx.fail(`axis ${attr} is out of range for rank ${s.length}`);
  const prod = (d: number[]): number => (d.some((v) => v < 0) ? -1 : numel(d));
  const dims = [prod(s.slice(0, axis)), prod(s.slice(axis))];
  if (x.kind === 'const') return cx.defineConst(0, { dims, data: x.c.data });
  cx.define(0, cx.graph.flatten(cx.name(), cx.plain(x as NodeValue), { axis }), dims, 'plain');
};

function axesOf(cx: Context): number[] | undefined {
  if (cx.opset >= 13) return cx.has(1) ? cx.intsInput(1, 'axes') : undefined;
  return cx.hasAttr('axes') ? cx.ints('axes') : undefined;
}

const squeeze: OpConverter = (cx) => {
  const x = cx.value(0);
  const s = shapeOf(x);
  const given = axesOf(cx);
  const axes = given ? given.map((a) => normAxis(a, s.length) ?? cx.fail(`axis ${a} is out of range`)) : s.flatMap((d, i) => (d === 1 ? [i] : []));
  if (!given && s.includes(-1)) cx.fail('squeezing without axes needs a known input shape');
  axes.forEach((a) => s[a] !== 1 && s[a] !== -1 && cx.fail(`dimension ${a} has size ${s[a]}, not 1`));
  reshapeTo(cx, x, s.filter((_, i) => !axes.includes(i)));
};

const unsqueeze: OpConverter = (cx) => {
  const x = cx.value(0);
  const s = shapeOf(x);
  const given = axesOf(cx) ?? cx.fail('needs axes');
  const r = s.length + given.length;
  const axes = given.map((a) => normAxis(a, r) ?? cx.fail(`axis ${a} is out of range`));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < r; ++i) out.push(axes.includes(i) ? 1 : s[k++]);
  reshapeTo(cx, x, out);
};

const transpose: OpConverter = (cx) => {
  const x = cx.value(0);
  const r = shapeOf(x).length;
  const perm = cx.ints('perm', Array.from({ length: r }, (_, i) => r - 1 - i));
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
    cx.fail(`perm [${perm.join(',')}] is not a permutation of 0..${r - 1}`);
  if (x.kind === 'const') return cx.defineConst(0, transposeConst(x.c, perm));
  cx.defineTranspose(0, x as NodeValue, perm);
};

/** Concat of constants (shape arithmetic), done in JS. */
function concatConst(parts: ConstTensor[], axis: number): ConstTensor {
  const dims = parts[0].dims.slice();
  dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
  const outer = numel(dims.slice(0, axis));
  const out = new Float64Array(numel(dims));
  let o = 0;
  for (let i = 0; i < outer; ++i)
    for (const p of parts) {
      const run = numel(p.dims.slice(axis));
      for (let j = 0; j < run; ++j) out[o++] = p.data[i * run + j];
    }
  return { dims, data: parts.every((p) => p.data instanceof Float32Array) ? Float32Array.from(out) : out };
}

const concat: OpConverter = (cx) => {
  const vals = cx.node.input.map((_, i) => cx.value(i));
  const shapes = vals.map(shapeOf);
  const r = shapes[0].length;
  const attr = cx.int('axis', cx.opset < 4 ? 1 : undefined);
  const axis = normAxis(attr, r) ?? cx.fail(`axis ${attr} is out of range for rank ${r}`);
  if (shapes.some((s) => s.length !== r)) cx.fail('inputs have different ranks');
  if (vals.every((v) => v.kind === 'const'))
    return cx.defineConst(0, concatConst(vals.map((v) => (v.kind === 'const' ? v.c : cx.fail('internal error'))), axis));
  const dims = shapes[0].slice();
  dims[axis] = shapes.some((s) => s[axis] < 0) ? -1 : shapes.reduce((t, s) => t + s[axis], 0);
  const nhwc = r === 4;
  const refs: NodeRef[] = vals.map((v, i) =>
    nhwc ? cx.nhwcOperand(v, `input${i}`) : v.kind === 'const' ? cx.param(`input${i}`, v.c) : cx.plain(v as NodeValue),
  );
  cx.define(0, cx.graph.concat(cx.name(), refs, { axis: nhwc ? nhwcAxis(axis) : axis }), dims, nhwc ? 'nhwc' : 'plain');
};

const pad: OpConverter = (cx) => {
  const x = cx.nodeInput(0);
  const r = x.shape.length;
  const mode = cx.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') return cx.fail(`mode '${mode}' is not supported`);
  let pads: number[];
  let value = 0;
  if (cx.opset < 11) {
    pads = cx.ints(cx.opset < 2 ? 'paddings' : 'pads');
    value = cx.float('value', 0);
  } else {
    pads = cx.intsInput(1, 'pads');
    if (cx.has(2)) {
      const c = cx.constInput(2, 'constant_value');
      value = c.data.length ? c.data[0] : 0;
    }
    if (cx.has(3)) cx.fail('the axes input is not supported');
  }
  if (pads.length !== 2 * r) cx.fail(`pads must have ${2 * r} values but has [${pads.join(',')}]`);
  if (pads.some((p) => p < 0)) cx.fail(`negative pads (cropping) [${pads.join(',')}] are not supported`);
  const before = pads.slice(0, r);
  const after = pads.slice(r);
  const dims = x.shape.map((d, i) => (d < 0 ? -1 : d + before[i] + after[i]));
  if (r === 4) {
    const p = [...permute(before, TO_NHWC), ...permute(after, TO_NHWC)];
    cx.define(0, cx.graph.pad(cx.name(), cx.nhwc(x), { pads: p, mode, value }), dims, 'nhwc');
  } else {
    cx.define(0, cx.graph.pad(cx.name(), x.ref, { pads, mode, value }), dims, 'plain');
  }
};

const identity: OpConverter = (cx) => cx.alias(0, cx.value(0));

/** Inference dropout passes its input through; the mask is not produced. */
const dropout: OpConverter = (cx) => {
  if (cx.has(2) && (!cx.isConst(2) || cx.constInput(2, 'training_mode').data[0] !== 0))
    cx.fail('training_mode must be a constant false (eyecandy runs dropout in inference mode)');
  cx.alias(0, cx.value(0));
  cx.missing(1, "Dropout's mask output is not supported");
};

const constant: OpConverter = (cx) => {
  const t = cx.tensorAttr('value');
  if (t) return cx.defineConst(0, t);
  const f = cx.hasAttr('value_float') ? [cx.float('value_float')] : undefined;
  const fs = cx.floats('value_floats');
  if (f || (cx.hasAttr('value_floats') && fs)) {
    const v = f ?? fs ?? [];
    return cx.defineConst(0, { dims: f ? [] : [v.length], data: Float32Array.from(v) });
  }
  if (cx.hasAttr('value_int')) return cx.defineConst(0, { dims: [], data: Float64Array.of(cx.int('value_int')) });
  if (cx.hasAttr('value_ints')) {
    const v = cx.ints('value_ints');
    return cx.defineConst(0, { dims: [v.length], data: Float64Array.from(v) });
  }
  cx.fail('only tensor, float and int constants are supported');
};

/** The shape of a value whose dims are all known, as a constant. */
const shape: OpConverter = (cx) => {
  const s = shapeOf(cx.value(0));
  if (s.some((d) => d < 0)) cx.fail(`the input shape [${s.join(',')}] is not fully known at load time`);
  const r = s.length;
  const clampAxis = (a: number): number => Math.max(0, Math.min(r, a < 0 ? a + r : a));
  const part = s.slice(clampAxis(cx.int('start', 0)), clampAxis(cx.int('end', r)));
  cx.defineConst(0, { dims: [part.length], data: Float64Array.from(part) });
};

/** Casts: float targets pass values through; integer targets of constants truncate. */
const cast: OpConverter = (cx) => {
  const to = cx.int('to');
  const x = cx.value(0);
  const isFloat = to === 1 || to === 10 || to === 11 || to === 16;
  if (x.kind === 'const') {
    const data = isFloat ? Float32Array.from(x.c.data) : Float64Array.from(x.c.data, (v) => (to === 9 ? Number(v !== 0) : Math.trunc(v)));
    return cx.defineConst(0, { dims: x.c.dims, data });
  }
  if (!isFloat) cx.fail(`casting a computed value to data type ${to} is not supported (networks compute in float32)`);
  cx.alias(0, x);
};

export const SHAPE_OPS: Record<string, OpConverter> = {
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  Concat: concat,
  Pad: pad,
  Identity: identity,
  Dropout: dropout,
  Constant: constant,
  Shape: shape,
  Cast: cast,
};
