// The TFLite op table: one converter per builtin op, each adding the op's
// nodes through the conversion context (context.ts). Option field numbers are
// those of the TFLite schema's *Options tables.
import { Tensor } from '../../tensor';
import { Context } from './context';
import { TfliteOperator } from './schema';

export type TfliteConverter = (op: TfliteOperator, c: Context) => void;

// Conv2DOptions: padding (0), stride_w (1), stride_h (2), fused (3), dilation_w (4), dilation_h (5).
function conv2d(op: TfliteOperator, c: Context): void {
  const o = op.options;
  const [co, kh, kw, ci] = c.inShape(op, 1);
  const cin = c.inShape(op)[3];
  if (!(ci > 0 && cin % ci === 0 && co % (cin / ci) === 0))
    throw new Error(`${c.where(op)}: filter [${c.inShape(op, 1).join(',')}] does not fit ${cin} input channels`);
  const w = c.values(op, 1);
  const hwio = new Float32Array(w.length); // OHWI -> HWIO
  for (let oc = 0; oc < co; ++oc)
    for (let y = 0; y < kh; ++y)
      for (let x = 0; x < kw; ++x)
        for (let ic = 0; ic < ci; ++ic) hwio[((y * kw + x) * ci + ic) * co + oc] = w[((oc * kh + y) * kw + x) * ci + ic];
  const kernel = Tensor.from(hwio, [kh, kw, ci, co]);
  const bias = c.bias(op);
  const x = c.input(op, 0);
  const strides = c.stride(op, o, 2, 1);
  const dilations: [number, number] = [o?.i32(5, 1) ?? 1, o?.i32(4, 1) ?? 1];
  const padding = c.padding(op, o);
  c.emit(op, o?.i8(3) ?? 0, (name) => c.g.conv2d(name, x, { kernel, bias, strides, dilations, padding, groups: cin / ci }));
}

// DepthwiseConv2DOptions: padding (0), stride_w (1), stride_h (2), depth_multiplier (3), fused (4),
// dilation_w (5), dilation_h (6). Filter [1, KH, KW, C*M] is already HWIO [KH, KW, 1, C*M] in memory.
function depthwiseConv2d(op: TfliteOperator, c: Context): void {
  const o = op.options;
  const [one, kh, kw, cm] = c.inShape(op, 1);
  const cin = c.inShape(op)[3];
  if (one !== 1 || !(cin > 0 && cm % cin === 0))
    throw new Error(`${c.where(op)}: filter [${c.inShape(op, 1).join(',')}] does not fit ${cin} input channels`);
  const kernel = c.constant(op, 1, 'filter', [kh, kw, 1, cm]);
  const bias = c.bias(op);
  const x = c.input(op, 0);
  const strides = c.stride(op, o, 2, 1);
  const dilations: [number, number] = [o?.i32(6, 1) ?? 1, o?.i32(5, 1) ?? 1];
  const padding = c.padding(op, o);
  c.emit(op, o?.i8(4) ?? 0, (name) => c.g.conv2d(name, x, { kernel, bias, strides, dilations, padding, groups: cin }));
}

// Pool2DOptions: padding (0), stride_w (1), stride_h (2), filter_width (3), filter_height (4), fused (5).
function pool2d(op: TfliteOperator, c: Context): void {
  const o = op.options;
  const x = c.input(op, 0);
  const pool = {
    size: [o?.i32(4) ?? 0, o?.i32(3) ?? 0] as [number, number],
    strides: c.stride(op, o, 2, 1),
    padding: c.padding(op, o),
  };
  c.emit(op, o?.i8(5) ?? 0, (name) => (op.op === 'MAX_POOL_2D' ? c.g.maxPool(name, x, pool) : c.g.avgPool(name, x, pool)));
}

// FullyConnectedOptions: fused (0), weights_format (1), keep_num_dims (2).
function fullyConnected(op: TfliteOperator, c: Context): void {
  const o = op.options;
  const g = c.g;
  if ((o?.i8(1) ?? 0) !== 0) throw new Error(`${c.where(op)}: shuffled weights are not supported`);
  const [units, depth] = c.inShape(op, 1);
  const w = c.values(op, 1);
  const io = new Float32Array(w.length); // [out, in] -> [in, out]
  for (let u = 0; u < units; ++u) for (let d = 0; d < depth; ++d) io[d * units + u] = w[u * depth + d];
  const kernel = Tensor.from(io, [depth, units]);
  const bias = c.bias(op);
  let x = c.input(op, 0);
  const xs = c.inShape(op);
  if (xs.length !== 2 || xs[1] !== depth) {
    x = g.reshape(c.unique(`${c.nameOf(c.output(op))}/flatten`), x, [-1, depth]);
    c.layers.push(x);
  }
  const outShape = c.output(op).shape;
  if (outShape.length !== 2) {
    // keep_num_dims: the dense result goes back to the output tensor's shape.
    c.emit(op, 0, (name) => {
      const d = g.dense(c.unique(`${name}/dense`), x, { kernel, bias });
      c.layers.push(d);
      return g.reshape(name, d, outShape);
    });
    if ((o?.i8(0) ?? 0) !== 0) throw new Error(`${c.where(op)}: a fused activation with keep_num_dims is not supported`);
  } else {
    c.emit(op, o?.i8(0) ?? 0, (name) => g.dense(name, x, { kernel, bias }));
  }
}

// RESHAPE, SQUEEZE: the output tensor's shape is the result (TFLite stores it resolved).
function reshape(op: TfliteOperator, c: Context): void {
  const x = c.input(op, 0);
  const shape = c.output(op).shape;
  c.emit(op, 0, (name) => c.g.reshape(name, x, shape));
}

// SoftmaxOptions: beta (0).
function softmax(op: TfliteOperator, c: Context): void {
  const beta = op.options?.f32(0) ?? 1;
  if (beta !== 1) throw new Error(`${c.where(op)}: beta ${beta} is not supported (only 1)`);
  const x = c.input(op, 0);
  c.logits = x;
  c.emit(op, 0, (name) => c.g.softmax(name, x, { axis: -1 }));
}

// AddOptions: fused (0).
function add(op: TfliteOperator, c: Context): void {
  const a = c.input(op, 0);
  const b = c.input(op, 1);
  c.emit(op, op.options?.i8(0) ?? 0, (name) => c.g.add(name, a, b));
}

// ConcatenationOptions: axis (0), fused (1).
function concatenation(op: TfliteOperator, c: Context): void {
  const o = op.options;
  const xs = op.inputs.map((_, i) => c.input(op, i));
  c.emit(op, o?.i8(1) ?? 0, (name) => c.g.concat(name, xs, { axis: o?.i32(0) ?? 0 }));
}

function relu(op: TfliteOperator, c: Context): void {
  const x = c.input(op, 0);
  c.emit(op, 0, (name) => (op.op === 'RELU' ? c.g.relu(name, x) : c.g.relu6(name, x)));
}

/** Converters by TFLite builtin op name. */
export const TFLITE_OPS: Readonly<Record<string, TfliteConverter>> = {
  ADD: add,
  AVERAGE_POOL_2D: pool2d,
  CONCATENATION: concatenation,
  CONV_2D: conv2d,
  DEPTHWISE_CONV_2D: depthwiseConv2d,
  FULLY_CONNECTED: fullyConnected,
  MAX_POOL_2D: pool2d,
  RELU: relu,
  RELU6: relu,
  RESHAPE: reshape,
  SOFTMAX: softmax,
  SQUEEZE: reshape,
};

/** The TFLite builtin ops this loader converts. */
export const SUPPORTED_TFLITE_OPS: readonly string[] = Object.keys(TFLITE_OPS).sort();
