// Elementwise ops: activations, Clip, and the broadcasting arithmetic built
// from our add/mul/relu (Sub, Div by a constant, Sum, Mean, Max, Min, Neg, Abs, PRelu).
import { NodeRef } from '../../nn/graph';
import { ConstValue, Context, NodeValue, Value } from './context';
import { broadcastShape, Layout, normAxis } from './layout';
import { ConstTensor, mapConst } from './tensor-data';
import { OpConverter } from './ops-nn';

/** The largest float32: stands in for a missing Clip bound (our clip takes finite bounds). */
const FLT_MAX = 3.4028234663852886e38;

export function shapeOf(v: Value): number[] {
  if (v.kind === 'const') return v.c.dims;
  if (v.kind === 'node') return v.shape;
  return [];
}

export function constValue(c: ConstTensor): ConstValue {
  return { kind: 'const', c };
}

const scalarValue = (v: number): ConstValue => constValue({ dims: [], data: Float32Array.of(v) });

/**
 * Operands of a broadcasting op, in one layout: a rank-4 result works on
 * NHWC (lower-rank operands aligned the ONNX way, then permuted); any other
 * rank works in ONNX order.
 */
export function operands(cx: Context, vals: Value[], roles: string[]): { refs: NodeRef[]; shape: number[]; layout: Layout } {
  let shape: number[] = [];
  for (const v of vals) {
    const b = broadcastShape(shape, shapeOf(v));
    if (!b) cx.fail(`input shapes ${vals.map((u) => `[${shapeOf(u).join(',')}]`).join(' and ')} do not broadcast`);
    shape = b;
  }
  const nhwc = shape.length === 4;
  const refs = vals.map((v, k) => {
    if (nhwc) return cx.nhwcOperand(v, roles[k]);
    if (v.kind === 'const') return cx.param(roles[k], v.c);
    if (v.kind === 'missing') return cx.fail(v.why);
    return cx.plain(v);
  });
  return { refs, shape, layout: nhwc ? 'nhwc' : 'plain' };
}

export function binary(cx: Context, op: 'add' | 'mul', a: Value, b: Value, name: string): NodeValue {
  const { refs, shape, layout } = operands(cx, [a, b], [`${op}_a`, `${op}_b`]);
  const ref = op === 'add' ? cx.graph.add(name, refs[0], refs[1]) : cx.graph.mul(name, refs[0], refs[1]);
  return { kind: 'node', ref, shape, layout };
}

function relu(cx: Context, v: NodeValue, name: string): NodeValue {
  return { ...v, ref: cx.graph.relu(name, v.ref) };
}

function asNode(cx: Context, v: Value, role: string): NodeValue {
  if (v.kind === 'node') return v;
  if (v.kind === 'const') return cx.constNode(role, v.c);
  return cx.fail(v.why);
}

function negate(cx: Context, v: Value, name: string): Value {
  return v.kind === 'const' ? constValue(mapConst(v.c, (x) => -x)) : binary(cx, 'mul', v, scalarValue(-1), name);
}

function publish(cx: Context, v: NodeValue): void {
  cx.define(0, v.ref, v.shape, v.layout);
}

/**
 * Before opset 7, Add/Mul/Sub/Div took `broadcast` and `axis`: B's dims line
 * up with A's starting at `axis`, which numpy alignment reaches once B gets
 * trailing ones.
 */
function legacyAligned(cx: Context, a: Value, b: Value): Value {
  if (cx.opset >= 7 || cx.int('broadcast', 0) !== 1 || !cx.hasAttr('axis')) return b;
  const ra = shapeOf(a).length;
  const rb = shapeOf(b).length;
  const axis = normAxis(cx.int('axis'), ra);
  if (axis === undefined || axis + rb > ra) return cx.fail(`legacy broadcast axis ${cx.int('axis')} does not fit`);
  const trailing = ra - axis - rb;
  if (trailing === 0) return b;
  if (b.kind !== 'const') return cx.fail('legacy broadcast with an axis needs a constant second input');
  return constValue({ dims: [...b.c.dims, ...new Array<number>(trailing).fill(1)], data: b.c.data });
}

function unary(make: (cx: Context, name: string, x: NodeRef) => NodeRef): OpConverter {
  return (cx) => {
    const x = cx.nodeInput(0);
    cx.define(0, make(cx, cx.name(), x.ref), x.shape, x.layout);
  };
}

function scalarInput(cx: Context, i: number, what: string, dflt: number): number {
  if (!cx.has(i)) return dflt;
  const c = cx.constInput(i, what);
  if (c.data.length !== 1) cx.fail(`${what} must be a scalar but has dims [${c.dims.join(',')}]`);
  return c.data[0];
}

const clip: OpConverter = (cx) => {
  const x = cx.nodeInput(0);
  // Opset 11 moved min and max from attributes to optional inputs.
  const min = cx.opset < 11 ? cx.float('min', -FLT_MAX) : scalarInput(cx, 1, 'min', -FLT_MAX);
  const max = cx.opset < 11 ? cx.float('max', FLT_MAX) : scalarInput(cx, 2, 'max', FLT_MAX);
  if (!(min <= max)) cx.fail(`min ${min} is greater than max ${max}`);
  const bound = (v: number): number => Math.max(-FLT_MAX, Math.min(FLT_MAX, v));
  cx.define(0, cx.graph.clip(cx.name(), x.ref, { min: bound(min), max: bound(max) }), x.shape, x.layout);
};

const add: OpConverter = (cx) => {
  const a = cx.value(0);
  publish(cx, binary(cx, 'add', a, legacyAligned(cx, a, cx.value(1)), cx.name()));
};

const mul: OpConverter = (cx) => {
  const a = cx.value(0);
  publish(cx, binary(cx, 'mul', a, legacyAligned(cx, a, cx.value(1)), cx.name()));
};

/** a - b = a + (-b): a constant is negated here, a computed b multiplied by -1. */
const sub: OpConverter = (cx) => {
  const a = cx.value(0);
  const b = negate(cx, legacyAligned(cx, a, cx.value(1)), cx.aux('neg'));
  publish(cx, binary(cx, 'add', a, b, cx.name()));
};

/** a / b = a * (1/b), for a constant b (there is no reciprocal op for a computed one). */
const div: OpConverter = (cx) => {
  const a = cx.value(0);
  const b = legacyAligned(cx, a, cx.value(1));
  if (b.kind !== 'const') return cx.fail('dividing by a value computed at run time is not supported (the divisor must be a constant)');
  publish(cx, binary(cx, 'mul', a, constValue(mapConst(b.c, (x) => 1 / x)), cx.name()));
};

/** Variadic ops folded left over the inputs; the last step carries the node's name. */
function variadic(step: (cx: Context, acc: Value, next: Value, name: string) => NodeValue, finish?: (cx: Context, acc: Value, n: number) => NodeValue): OpConverter {
  return (cx) => {
    const n = cx.node.input.length;
    if (n === 0) cx.fail('needs at least one input');
    if (n === 1 && !finish) {
      cx.alias(0, cx.value(0));
      return;
    }
    let acc: Value = cx.value(0);
    for (let i = 1; i < n; ++i) acc = step(cx, acc, cx.value(i), i === n - 1 && !finish ? cx.name() : cx.aux(`step${i}`));
    publish(cx, finish ? finish(cx, acc, n) : (acc as NodeValue));
  };
}

const sumStep = (cx: Context, acc: Value, next: Value, name: string): NodeValue => binary(cx, 'add', acc, next, name);

/** max(a, b) = a + relu(b - a); min(a, b) = a - relu(a - b). */
function extremumStep(kind: 'max' | 'min') {
  return (cx: Context, acc: Value, next: Value, name: string): NodeValue => {
    const [hi, lo] = kind === 'max' ? [next, acc] : [acc, next];
    const diff = binary(cx, 'add', hi, negate(cx, lo, cx.aux('neg')), cx.aux('diff'));
    const r = relu(cx, diff, cx.aux('relu'));
    return binary(cx, 'add', acc, kind === 'max' ? r : negate(cx, r, cx.aux('neg')), name);
  };
}

const neg: OpConverter = (cx) => publish(cx, binary(cx, 'mul', cx.value(0), scalarValue(-1), cx.name()));

/** |x| = relu(x) + relu(-x). */
const abs: OpConverter = (cx) => {
  const x = cx.nodeInput(0);
  const pos = relu(cx, x, cx.aux('pos'));
  const negPart = relu(cx, negate(cx, x, cx.aux('neg')) as NodeValue, cx.aux('neg_relu'));
  publish(cx, binary(cx, 'add', pos, negPart, cx.name()));
};

/** prelu(x) = relu(x) + (-slope) * relu(-x). */
const prelu: OpConverter = (cx) => {
  const x = cx.nodeInput(0);
  let slope = cx.value(1);
  // Before opset 7 a 1-D slope of C values was per channel (axis 1), not numpy-aligned.
  const r = x.shape.length;
  if (cx.opset < 7 && slope.kind === 'const' && slope.c.dims.length === 1 && r >= 3 && slope.c.dims[0] === x.shape[1] && slope.c.dims[0] > 1)
    slope = constValue({ dims: [slope.c.dims[0], ...new Array<number>(r - 2).fill(1)], data: slope.c.data });
  const pos = relu(cx, x, cx.aux('pos'));
  const negPart = relu(cx, negate(cx, x, cx.aux('neg')) as NodeValue, cx.aux('neg_relu'));
  const scaled = binary(cx, 'mul', negPart, negate(cx, slope, cx.aux('neg_slope')), cx.aux('scaled'));
  publish(cx, binary(cx, 'add', pos, scaled, cx.name()));
};

export const MATH_OPS: Record<string, OpConverter> = {
  Relu: unary((cx, name, x) => cx.graph.relu(name, x)),
  Sigmoid: unary((cx, name, x) => cx.graph.sigmoid(name, x)),
  Tanh: unary((cx, name, x) => cx.graph.tanh(name, x)),
  LeakyRelu: unary((cx, name, x) => cx.graph.leakyRelu(name, x, { alpha: cx.float('alpha', 0.01) })),
  Clip: clip,
  Add: add,
  Mul: mul,
  Sub: sub,
  Div: div,
  Sum: variadic(sumStep),
  Mean: variadic(sumStep, (cx, acc, n) => binary(cx, 'mul', asNode(cx, acc, 'acc'), scalarValue(1 / n), cx.name())),
  Max: variadic(extremumStep('max')),
  Min: variadic(extremumStep('min')),
  Neg: neg,
  Abs: abs,
  PRelu: prelu,
};
