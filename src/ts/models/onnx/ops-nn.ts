// Image ops: Conv, pools, BatchNormalization, LRN, Softmax/LogSoftmax, Resize/Upsample.
import { NodeRef } from '../../nn/graph';
import { Context, NodeValue } from './context';
import { nhwcAxis, normAxis, PadSpec, permute, reshapeTarget, TO_NHWC, windowOut } from './layout';
import { transposeConst } from './tensor-data';

export type OpConverter = (cx: Context) => void;

/** OIHW (ONNX conv weight) -> HWIO (ours). */
const OIHW_TO_HWIO = [2, 3, 1, 0];

function image(cx: Context, what = 'input'): NodeValue {
  const x = cx.nodeInput(0);
  if (x.shape.length !== 4)
    cx.fail(`only 2-D images are supported: the ${what} must have rank 4 (NCHW) but has shape [${x.shape.join(',')}]`);
  return x;
}

function pair(cx: Context, name: string, dflt: number): [number, number] {
  const v = cx.ints(name, [dflt, dflt]);
  if (v.length !== 2) cx.fail(`attribute '${name}' must have 2 values for a 2-D op but has [${v.join(',')}]`);
  if (v.some((x) => !Number.isInteger(x) || x < 1)) cx.fail(`attribute '${name}' must be positive but is [${v.join(',')}]`);
  return [v[0], v[1]];
}

/** auto_pad and pads -> our padding (ONNX 2-D pads are already [top, left, bottom, right]). */
function padding(cx: Context): PadSpec {
  const auto = cx.string('auto_pad', 'NOTSET');
  if (auto === 'SAME_UPPER') return 'same';
  if (auto === 'SAME_LOWER') return 'same_lower';
  if (auto === 'VALID') return 'valid';
  if (auto !== 'NOTSET') cx.fail(`auto_pad '${auto}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  const p = cx.ints('pads', [0, 0, 0, 0]);
  if (p.length !== 4) cx.fail(`attribute 'pads' must have 4 values for a 2-D op but has [${p.join(',')}]`);
  if (p.some((x) => x < 0)) cx.fail(`negative pads [${p.join(',')}] are not supported`);
  return [p[0], p[1], p[2], p[3]];
}

function outShape(x: NodeValue, c: number, k: number[], s: number[], d: number[], pad: PadSpec, ceil: boolean): number[] {
  return [x.shape[0], c, windowOut(x.shape[2], k[0], s[0], d[0], pad, 0, ceil), windowOut(x.shape[3], k[1], s[1], d[1], pad, 1, ceil)];
}

const conv: OpConverter = (cx) => {
  const x = image(cx);
  const w = cx.constInput(1, 'the weight W');
  if (w.dims.length !== 4) cx.fail(`the weight W must be OIHW (rank 4) but has dims [${w.dims.join(',')}]`);
  const [cout, , kh, kw] = w.dims;
  const ks = cx.ints('kernel_shape', [kh, kw]);
  if (ks[0] !== kh || ks[1] !== kw) cx.fail(`kernel_shape [${ks.join(',')}] does not match the weight dims [${w.dims.join(',')}]`);
  const strides = pair(cx, 'strides', 1);
  const dilations = pair(cx, 'dilations', 1);
  const pad = padding(cx);
  const kernel = cx.param('kernel', transposeConst(w, OIHW_TO_HWIO));
  let bias: NodeRef | undefined;
  if (cx.has(2)) bias = cx.isConst(2) ? cx.param('bias', cx.constInput(2, 'the bias B')) : cx.plain(cx.nodeInput(2));
  const ref = cx.graph.conv2d(cx.name(), cx.nhwc(x), { kernel, bias, strides, dilations, padding: pad, groups: cx.int('group', 1) });
  cx.define(0, ref, outShape(x, cout, [kh, kw], strides, dilations, pad, false), 'nhwc');
};

function pool(kind: 'max' | 'avg'): OpConverter {
  return (cx) => {
    const x = image(cx);
    const size = cx.ints('kernel_shape');
    if (size.length !== 2) cx.fail(`only 2-D pooling is supported (kernel_shape [${size.join(',')}])`);
    const strides = pair(cx, 'strides', 1);
    const dilations = pair(cx, 'dilations', 1);
    if (kind === 'avg' && (dilations[0] !== 1 || dilations[1] !== 1)) cx.fail('dilated average pooling is not supported');
    const ceilMode = cx.int('ceil_mode', 0) === 1;
    const pad = padding(cx);
    if (kind === 'max') {
      if (cx.int('storage_order', 0) !== 0) cx.fail('storage_order=1 (column-major indices) is not supported');
      if (cx.node.output[1]) cx.fail('the second output (Indices) is not supported');
      const ref = cx.graph.maxPool(cx.name(), cx.nhwc(x), { size: [size[0], size[1]], strides, dilations, padding: pad, ceilMode });
      cx.define(0, ref, outShape(x, x.shape[1], size, strides, dilations, pad, ceilMode), 'nhwc');
    } else {
      const countIncludePad = cx.int('count_include_pad', 0) === 1;
      const ref = cx.graph.avgPool(cx.name(), cx.nhwc(x), { size: [size[0], size[1]], strides, padding: pad, ceilMode, countIncludePad });
      cx.define(0, ref, outShape(x, x.shape[1], size, strides, [1, 1], pad, ceilMode), 'nhwc');
    }
  };
}

function globalPool(kind: 'max' | 'avg'): OpConverter {
  return (cx) => {
    const x = image(cx);
    const name = cx.name();
    const ref = kind === 'max' ? cx.graph.globalMaxPool(name, cx.nhwc(x)) : cx.graph.globalAvgPool(name, cx.nhwc(x));
    cx.define(0, ref, [x.shape[0], x.shape[1], 1, 1], 'nhwc');
  };
}

/**
 * Runs `op` (which works on the last axis) over ONNX's channel axis 1: NHWC
 * values already have channels last; other ranks >= 3 are transposed there and back.
 */
function overChannels(cx: Context, x: NodeValue, op: (name: string, input: NodeRef) => NodeRef): void {
  const r = x.shape.length;
  if (r < 2) cx.fail(`input must have rank >= 2 (N, C, ...) but has shape [${x.shape.join(',')}]`);
  if (r === 4 || r === 2) {
    cx.define(0, op(cx.name(), r === 4 ? cx.nhwc(x) : x.ref), x.shape, r === 4 ? 'nhwc' : 'plain');
    return;
  }
  const toLast = [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1];
  const moved = cx.graph.transpose(cx.aux('channels_last'), x.ref, toLast);
  const y = op(cx.aux('op'), moved);
  const back = toLast.map((_, i) => toLast.indexOf(i));
  cx.define(0, cx.graph.transpose(cx.name(), y, back), x.shape, 'plain');
}

const batchNorm: OpConverter = (cx) => {
  if (cx.opset < 9 && cx.int('spatial', 1) !== 1) cx.fail('spatial=0 (per-activation statistics) is not supported');
  if (cx.int('training_mode', 0) !== 0) cx.fail('training_mode=1 is not supported (inference only)');
  const x = cx.nodeInput(0);
  const source = (i: number, role: string): NodeRef =>
    cx.isConst(i) ? cx.param(role, cx.constInput(i, role)) : cx.plain(cx.nodeInput(i));
  const o = {
    scale: source(1, 'scale'),
    offset: source(2, 'offset'),
    mean: source(3, 'mean'),
    variance: source(4, 'variance'),
    epsilon: cx.float('epsilon', 1e-5),
  };
  for (let i = 1; i < cx.node.output.length; ++i)
    cx.missing(i, 'BatchNormalization running statistics are training outputs, which eyecandy does not compute');
  overChannels(cx, x, (name, input) => cx.graph.batchNorm(name, input, o));
};

const lrn: OpConverter = (cx) => {
  const x = cx.nodeInput(0);
  const o = { size: cx.int('size'), alpha: cx.float('alpha', 1e-4), beta: cx.float('beta', 0.75), bias: cx.float('bias', 1) };
  overChannels(cx, x, (name, input) => cx.graph.lrn(name, input, o));
};

function softmax(kind: 'softmax' | 'logSoftmax'): OpConverter {
  return (cx) => {
    const x = cx.nodeInput(0);
    const r = x.shape.length;
    const attr = cx.int('axis', cx.opset >= 13 ? -1 : 1);
    const a = normAxis(attr, r);
    if (a === undefined) return cx.fail(`axis ${attr} is out of range for rank ${r}`);
    const op = (name: string, input: NodeRef, axis: number): NodeRef =>
      kind === 'softmax' ? cx.graph.softmax(name, input, { axis }) : cx.graph.logSoftmax(name, input, { axis });
    if (cx.opset >= 13 || a === r - 1) {
      // One axis: remap it for NHWC values.
      cx.define(0, op(cx.name(), x.ref, r === 4 && x.layout === 'nhwc' ? nhwcAxis(a) : a), x.shape, x.layout);
      return;
    }
    // Before opset 13 the input is coerced to 2-D [prod(d<axis), prod(d>=axis)] and normalized per row.
    const target = reshapeTarget(x.shape);
    if (!target) return cx.fail('needs a known input shape (the pre-opset-13 softmax flattens and restores it)');
    if (r === 4 && a === 1) {
      // Each row is all of C, H and W: the same set of values in NHWC order, so no transpose is needed.
      const flat = cx.graph.flatten(cx.aux('flatten'), x.ref, { axis: 1 });
      const y = op(cx.aux('op'), flat, 1);
      cx.define(0, cx.graph.reshape(cx.name(), y, permute(target, TO_NHWC)), x.shape, 'nhwc');
      return;
    }
    const flat = cx.graph.flatten(cx.aux('flatten'), cx.plain(x), { axis: a });
    const y = op(cx.aux('op'), flat, 1);
    cx.define(0, cx.graph.reshape(cx.name(), y, target), x.shape, 'plain');
  };
}

/** Resize (opset 10+) and Upsample: bilinear on H and W only. */
const resize: OpConverter = (cx) => {
  const x = image(cx);
  const mode = cx.string('mode', 'nearest');
  if (mode !== 'linear' && mode !== 'bilinear')
    cx.fail(`mode '${mode}' is not supported (eyecandy resizes with linear interpolation over height and width only)`);
  if (cx.int('antialias', 0) !== 0) cx.fail('antialias=1 is not supported');
  const isUpsample = cx.node.opType === 'Upsample';
  // Upsample and opset-10 Resize sample with asymmetric coordinates; opset 11 added the attribute.
  const coordMode = isUpsample || cx.opset < 11 ? 'asymmetric' : cx.string('coordinate_transformation_mode', 'half_pixel');
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (isUpsample && cx.opset < 9) scales = cx.floats('scales') ?? cx.fail("attribute 'scales' is required");
  else if (isUpsample || cx.opset < 11) scales = Array.from(cx.constInput(1, 'scales').data);
  else {
    const s = cx.has(2) ? cx.constInput(2, 'scales') : undefined;
    const z = cx.has(3) ? cx.constInput(3, 'sizes') : undefined;
    if (z && z.data.length) sizes = Array.from(z.data);
    else if (s && s.data.length) scales = Array.from(s.data);
    else cx.fail('needs scales or sizes');
  }
  const [n, c, h, w] = x.shape;
  let outH: number;
  let outW: number;
  if (sizes) {
    if (sizes.length !== 4) cx.fail(`sizes must have 4 values but has [${sizes.join(',')}]`);
    if ((n >= 0 && sizes[0] !== n) || (c >= 0 && sizes[1] !== c)) cx.fail('only height and width can be resized');
    [outH, outW] = [sizes[2], sizes[3]];
  } else {
    const sc = scales as number[];
    if (sc.length !== 4) cx.fail(`scales must have 4 values but has [${sc.join(',')}]`);
    if (sc[0] !== 1 || sc[1] !== 1) cx.fail(`only height and width can be resized (scales [${sc.join(',')}])`);
    if (h < 0 || w < 0) cx.fail('resizing by scales needs a known input height and width');
    [outH, outW] = [Math.floor(h * sc[2] + 1e-6), Math.floor(w * sc[3] + 1e-6)];
    // ONNX samples with the given scale; our kernel with out/in. They agree only when in*scale is whole.
    const whole = (v: number): boolean => Math.abs(v - Math.round(v)) <= 1e-6 * Math.max(1, v);
    if (coordMode !== 'align_corners' && (!whole(h * sc[2]) || !whole(w * sc[3])))
      cx.fail(`scales [${sc.join(',')}] on a ${h}x${w} input give a fractional output size; eyecandy's resize samples by output/input size and cannot match it`);
  }
  let coord: 'half_pixel' | 'align_corners' | 'asymmetric';
  if (coordMode === 'half_pixel' || coordMode === 'align_corners' || coordMode === 'asymmetric') coord = coordMode;
  else if (coordMode === 'pytorch_half_pixel' && outH > 1 && outW > 1) coord = 'half_pixel'; // identical unless an output size is 1
  else return cx.fail(`coordinate_transformation_mode '${coordMode}' is not supported${coordMode === 'pytorch_half_pixel' ? ' with an output size of 1' : ''}`);
  const ref = cx.graph.resizeBilinear(cx.name(), cx.nhwc(x), { height: outH, width: outW, coord });
  cx.define(0, ref, [n, c, outH, outW], 'nhwc');
};

export const NN_OPS: Record<string, OpConverter> = {
  Conv: conv,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalMaxPool: globalPool('max'),
  GlobalAveragePool: globalPool('avg'),
  BatchNormalization: batchNorm,
  LRN: lrn,
  Softmax: softmax('softmax'),
  LogSoftmax: softmax('logSoftmax'),
  Resize: resize,
  Upsample: resize,
};
