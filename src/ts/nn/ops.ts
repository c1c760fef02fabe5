// The op set as TypeScript sees it: each op's name, its attributes as they
// cross to the addon (the keys native/node/graph.cc reads), and what kind of
// op it is. A graph node is typed by its op (see NodeDef in graph.ts), so a
// task reads `d.attrs.strides` of a conv2d as a [number, number], and asks
// OP_INFO[op].spatial rather than keeping its own list of ops.

/** Every op the native Program knows, by its wire name. */
export type OpName =
  | 'conv2d'
  | 'dense'
  | 'relu'
  | 'clip'
  | 'leaky_relu'
  | 'sigmoid'
  | 'tanh'
  | 'max_pool'
  | 'avg_pool'
  | 'global_avg_pool'
  | 'global_max_pool'
  | 'add'
  | 'mul'
  | 'concat'
  | 'softmax'
  | 'log_softmax'
  | 'lrn'
  | 'batch_norm'
  | 'reshape'
  | 'flatten'
  | 'pad'
  | 'resize_bilinear'
  | 'gram'
  | 'mse_loss'
  | 'rms_loss'
  | 'sum_squares'
  | 'transpose'
  | 'abs';

/** Wire values of a window's padding: 'explicit' reads `pads` ([top, left, bottom, right]). */
export type PadMode = 'valid' | 'same_upper' | 'same_lower' | 'explicit';

/** A 2-D window (conv2d, pools). Native defaults: 1 for pairs, 'explicit' with zero pads. */
export interface WindowAttrs {
  strides: [number, number];
  dilations: [number, number];
  padMode: PadMode;
  /** With padMode 'explicit': [top, left, bottom, right]. */
  pads?: [number, number, number, number];
}

export interface Conv2dAttrs extends WindowAttrs {
  /** Default 1. */
  groups: number;
}

export interface PoolAttrs extends WindowAttrs {
  /** Window size [h, w]. */
  kernel: [number, number];
  /** Default false. */
  ceilMode: boolean;
  /** Average pool only; default false. */
  countIncludePad: boolean;
}

export interface ClipAttrs {
  /** Defaults 0 and 6. */
  min: number;
  max: number;
}

export interface LeakyReluAttrs {
  /** Default 0.01. */
  alpha: number;
}

/** concat, softmax, log_softmax. */
export interface AxisAttrs {
  /** Negative counts from the end; default -1. */
  axis: number;
}

export interface LrnAttrs {
  /** Defaults 5, 1e-4, 0.75, 1. */
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

export interface BatchNormAttrs {
  /** Default 1e-5. */
  epsilon: number;
}

export interface ReshapeAttrs {
  /** 0 copies the input's dimension, one -1 is inferred. */
  shape: number[];
}

export interface FlattenAttrs {
  /** Default 1. */
  axis: number;
}

export interface PadAttrs {
  /** 2*rank values: befores, then afters. */
  pads: number[];
  /** Default 'constant'. */
  mode: 'constant' | 'reflect' | 'edge';
  /** Default 0. */
  value: number;
}

export interface ResizeBilinearAttrs {
  height: number;
  width: number;
  /** Default 'half_pixel'. */
  coord: 'half_pixel' | 'align_corners' | 'asymmetric';
}

export interface TransposeAttrs {
  perm: number[];
}

/** An op without attributes. */
export type NoAttrs = Record<string, never>;

/** The attributes of each op. */
export interface OpAttrs {
  conv2d: Conv2dAttrs;
  dense: NoAttrs;
  relu: NoAttrs;
  clip: ClipAttrs;
  leaky_relu: LeakyReluAttrs;
  sigmoid: NoAttrs;
  tanh: NoAttrs;
  max_pool: PoolAttrs;
  avg_pool: PoolAttrs;
  global_avg_pool: NoAttrs;
  global_max_pool: NoAttrs;
  add: NoAttrs;
  mul: NoAttrs;
  concat: AxisAttrs;
  softmax: AxisAttrs;
  log_softmax: AxisAttrs;
  lrn: LrnAttrs;
  batch_norm: BatchNormAttrs;
  reshape: ReshapeAttrs;
  flatten: FlattenAttrs;
  pad: PadAttrs;
  resize_bilinear: ResizeBilinearAttrs;
  gram: NoAttrs;
  mse_loss: NoAttrs;
  rms_loss: NoAttrs;
  sum_squares: NoAttrs;
  transpose: TransposeAttrs;
  abs: NoAttrs;
}

/** The ops that take no attributes. */
export type PlainOpName = { [K in OpName]: OpAttrs[K] extends NoAttrs ? K : never }[OpName];

export interface OpInfo {
  /** Inputs the op takes (weights included); maxInputs -1: any number. */
  minInputs: number;
  maxInputs: number;
  /** Acts on each element alone (an activation): a class map or any shape passes through it. */
  pointwise: boolean;
  /** Keeps an NHWC feature map whose positions still mean places in the image. */
  spatial: boolean;
  /** Looks at a 2-D window of its input (kernel, strides, dilations): it grows the receptive field. */
  window: boolean;
}

const op = (minInputs: number, maxInputs: number, flags: Partial<Omit<OpInfo, 'minInputs' | 'maxInputs'>> = {}): OpInfo => ({
  minInputs,
  maxInputs,
  pointwise: flags.pointwise ?? false,
  spatial: flags.spatial ?? false,
  window: flags.window ?? false,
});
const pointwise = { pointwise: true, spatial: true };
const window = { spatial: true, window: true };

/** Every op's arity and kind; the addon's opTable() reports the same. */
export const OP_INFO: Readonly<Record<OpName, OpInfo>> = {
  conv2d: op(2, 3, window),
  dense: op(2, 3),
  relu: op(1, 1, pointwise),
  clip: op(1, 1, pointwise),
  leaky_relu: op(1, 1, pointwise),
  sigmoid: op(1, 1, pointwise),
  tanh: op(1, 1, pointwise),
  max_pool: op(1, 1, window),
  avg_pool: op(1, 1, window),
  global_avg_pool: op(1, 1),
  global_max_pool: op(1, 1),
  add: op(2, 2, { spatial: true }),
  mul: op(2, 2, { spatial: true }),
  concat: op(1, -1, { spatial: true }),
  softmax: op(1, 1),
  log_softmax: op(1, 1),
  lrn: op(1, 1, { spatial: true }),
  batch_norm: op(5, 5, { spatial: true }),
  reshape: op(1, 1),
  flatten: op(1, 1),
  pad: op(1, 1, { spatial: true }),
  resize_bilinear: op(1, 1),
  gram: op(1, 1),
  mse_loss: op(2, 2),
  rms_loss: op(2, 2),
  sum_squares: op(1, 1),
  transpose: op(1, 1),
  abs: op(1, 1, pointwise),
};

/** The op names, in the addon's order. */
export const OP_NAMES = Object.keys(OP_INFO) as OpName[];

export function isOpName(v: unknown): v is OpName {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(OP_INFO, v);
}
