// The typed network builder. A Graph is a list of named nodes (inputs,
// parameters, ops) in the order they were added; each op refers to earlier
// nodes by name. compile() turns it into a native Program (see network.ts).
//
//   const g = new Graph();
//   const x = g.input('image', [-1, -1, -1, 3]);
//   const c = g.conv2d('conv1', x, { kernel: Tensor.from(w, [3, 3, 3, 8]), padding: 'same' });
//   const net = g.compile({ backend: 'cpu' });
import { addon, NativeNodeDesc } from '../native';
import { Tensor } from '../tensor';
import {
  checkBoolean,
  checkFinite,
  checkInteger,
  checkName,
  checkNumber,
  checkOneOf,
  checkPair,
  checkShape,
  invalidParameterError,
} from '../validate';
import { checkFiniteTensor } from './finite';
import { BACKENDS, CompileOptions, Network } from './network';
import { OpAttrs, OpName, PadMode, PlainOpName, WindowAttrs } from './ops';

/** A node's name; ops take the names of earlier nodes as inputs. */
export type NodeRef = string;
/** A weight: a tensor (stored as a param named `<layer>/<role>`) or the name of an earlier node. */
export type ParamSource = Tensor | NodeRef;

/**
 * Padding of a conv or pool: 'valid' (none), 'same' (TF SAME: output = ceil(input/stride),
 * odd padding at bottom/right), 'same_lower' (odd padding at top/left), one number for
 * every side, or [top, left, bottom, right]. Default 'valid'.
 */
export type Padding = 'valid' | 'same' | 'same_lower' | number | [number, number, number, number];

/** Options of `Graph.conv2d`: the kernel (HWIO), bias, strides, padding, dilation, groups. */
export interface Conv2dOptions {
  /** Filter, HWIO [KH, KW, Cin/groups, Cout]. */
  kernel: ParamSource;
  /** Bias [Cout]; none by default. */
  bias?: ParamSource;
  /** Stride, integer 1..1024 or [h, w]; default 1. */
  strides?: number | [number, number];
  /** Dilation, integer 1..1024 or [h, w]; default 1. */
  dilations?: number | [number, number];
  /** Default 'valid'. */
  padding?: Padding;
  /** Channel groups, 1..65536, dividing both channel counts; Cin for depthwise. Default 1. */
  groups?: number;
}

/** Options of `Graph.dense`: the kernel [in, out] and bias. */
export interface DenseOptions {
  /** Weight [In, Out]. */
  kernel: ParamSource;
  /** Bias [Out]; none by default. */
  bias?: ParamSource;
}

/** Options of the max and average pools: window size, strides, padding. */
export interface PoolOptions {
  /** Window size, integer 1..1024 or [h, w]. */
  size: number | [number, number];
  /** Stride; default: the window size. */
  strides?: number | [number, number];
  /** Dilation (max pool only); default 1. */
  dilations?: number | [number, number];
  /** Default 'valid'. */
  padding?: Padding;
  /** Round the output size up; default false. */
  ceilMode?: boolean;
  /** Average pool: divide by the whole window including padding; default false. */
  countIncludePad?: boolean;
}

/** Options of local response normalisation (AlexNet/GoogLeNet style). */
export interface LrnOptions {
  /** Channels in the window, 1..1024; default 5. */
  size?: number;
  /** Default 1e-4. */
  alpha?: number;
  /** Default 0.75. */
  beta?: number;
  /** Must be > 0; default 1. */
  bias?: number;
}

/** Options of inference-time batch normalisation: per-channel scale, offset, mean, variance, epsilon. */
export interface BatchNormOptions {
  scale: ParamSource;
  offset: ParamSource;
  mean: ParamSource;
  variance: ParamSource;
  /** >= 0; default 1e-5 (Keras uses 1e-3). */
  epsilon?: number;
}

/** Options of `Graph.pad`: values added before and after each dimension, and the fill mode. */
export interface PadOptions {
  /** 2*rank values: [before_0..before_{r-1}, after_0..after_{r-1}], each >= 0. */
  pads: number[];
  /** Default 'constant'. */
  mode?: 'constant' | 'reflect' | 'edge';
  /** Fill value for 'constant'; default 0. */
  value?: number;
}

/** Options of `Graph.resizeBilinear`: the output size or scale. */
export interface ResizeOptions {
  /** Output height and width, 1..65536. */
  height: number;
  width: number;
  /** Sampling grid; default 'half_pixel' (PyTorch align_corners=False, TF2). */
  coord?: 'half_pixel' | 'align_corners' | 'asymmetric';
}

export interface InputNode {
  name: string;
  kind: 'input';
  shape?: number[];
}

export interface ParamNode {
  name: string;
  kind: 'param';
  value: Tensor;
}

/** An op node; `attrs` is typed by `op` (see ops.ts). */
export type OpNode<K extends OpName = OpName> = K extends OpName
  ? { name: string; kind: 'op'; op: K; inputs: string[]; attrs: OpAttrs[K] }
  : never;

/** One node of a graph as data (see Graph.nodes / Graph.fromNodes). */
export type NodeDef = InputNode | ParamNode | OpNode;

function paddingAttrs(who: string, p: Padding | undefined): Pick<WindowAttrs, 'padMode' | 'pads'> {
  const mode = (padMode: PadMode) => ({ padMode });
  if (p === undefined || p === 'valid') return mode('valid');
  if (p === 'same') return mode('same_upper');
  if (p === 'same_lower') return mode('same_lower');
  if (typeof p === 'number') {
    checkInteger(who, 'padding', p, 0, 65536);
    return { padMode: 'explicit', pads: [p, p, p, p] };
  }
  if (Array.isArray(p) && p.length === 4) {
    p.forEach((v, i) => checkInteger(who, `padding[${i}]`, v, 0, 65536));
    return { padMode: 'explicit', pads: [p[0], p[1], p[2], p[3]] };
  }
  throw invalidParameterError(who, 'padding', "'valid', 'same', 'same_lower', integer or [top, left, bottom, right]", p);
}

/** A network under construction: named inputs, parameters and ops (NHWC float32), compiled into a Network with `compile()`. Each builder method adds one node and returns its name. */
export class Graph {
  private readonly defs: NodeDef[] = [];
  private readonly index = new Map<string, number>();

  /** Node names in order. */
  get names(): string[] {
    return this.defs.map((d) => d.name);
  }

  /** The last node added (the default output). */
  get last(): NodeRef {
    if (!this.defs.length) throw new Error('graph: the graph is empty');
    return this.defs[this.defs.length - 1].name;
  }

  /** Whether a node of this name exists. */
  has(name: string): boolean {
    return this.index.has(name);
  }

  /** The nodes as data, in order (attributes as the native side reads them). */
  nodes(): readonly NodeDef[] {
    return this.defs.map((d) => ({ ...d }));
  }

  /** A graph from node data, e.g. a rewritten copy of another graph's nodes(). */
  static fromNodes(defs: readonly NodeDef[]): Graph {
    const g = new Graph();
    for (const d of defs) {
      if (d.kind === 'op') d.inputs.forEach((r, i) => g.ref(d.op, `input ${i}`, r));
      if (d.kind === 'param') d.value.assertLive(`param '${d.name}'`);
      g.addNode({ ...d });
    }
    return g;
  }

  private addNode(def: NodeDef): NodeRef {
    checkName('graph', 'node name', def.name);
    if (this.index.has(def.name)) throw new Error(`graph: node name '${def.name}' is used twice`);
    this.index.set(def.name, this.defs.length);
    this.defs.push(def);
    return def.name;
  }

  private ref(who: string, what: string, r: unknown): NodeRef {
    if (typeof r !== 'string' || !this.index.has(r))
      throw invalidParameterError(who, what, 'the name of an earlier node', r);
    return r;
  }

  /**
   * Adds an op whose trailing inputs are weights: each given as a tensor
   * (stored as the param `<name>/<role>`) or a node name; undefined ones
   * (an optional bias) are left out. Everything is checked before anything is added.
   */
  private withSources<K extends OpName>(
    op: K,
    name: string,
    inputs: NodeRef[],
    sources: [string, ParamSource | undefined][],
    attrs: OpAttrs[K],
  ): NodeRef {
    checkName(op, 'name', name);
    if (this.index.has(name)) throw new Error(`graph: node name '${name}' is used twice`);
    inputs.forEach((r, i) => this.ref(op, `input ${i}`, r));
    const present = sources.filter(([, s]) => s !== undefined) as [string, ParamSource][];
    for (const [role, s] of present) {
      if (s instanceof Tensor) {
        s.assertLive(`${op} ${role}`);
        if (this.index.has(`${name}/${role}`)) throw new Error(`graph: node name '${name}/${role}' is used twice`);
      } else {
        this.ref(op, role, s);
      }
    }
    const refs = present.map(([role, s]) => (s instanceof Tensor ? this.param(`${name}/${role}`, s) : s));
    return this.op(op, name, [...inputs, ...refs], attrs);
  }

  private op<K extends OpName>(op: K, name: string, inputs: NodeRef[], attrs: OpAttrs[K]): NodeRef {
    inputs.forEach((r, i) => this.ref(op, `input ${i}`, r));
    return this.addNode({ name, kind: 'op', op, inputs, attrs } as OpNode);
  }

  /** An op without attributes. */
  private plain(op: PlainOpName, name: string, inputs: NodeRef[]): NodeRef {
    return this.op(op, name, inputs, {});
  }

  /** A placeholder fed at each run. `shape` may use -1 for any size (e.g. [-1, -1, -1, 3]). */
  input(name: string, shape?: number[]): NodeRef {
    return this.addNode({ name, kind: 'input', shape: shape ? checkShape('input', 'shape', shape, true) : undefined });
  }

  /**
   * A named tensor of the network (weights, or a fixed target such as a style Gram matrix).
   * The network shares its memory (no copy, as weights can be large): change it through
   * Network.setParam, not in place.
   */
  param(name: string, value: Tensor): NodeRef {
    if (!(value instanceof Tensor)) throw invalidParameterError('param', name, 'a Tensor', value);
    value.assertLive(`param '${name}'`);
    return this.addNode({ name, kind: 'param', value });
  }

  /** 2-D convolution of x (NHWC) with an HWIO kernel, plus an optional bias. */
  conv2d(name: string, x: NodeRef, o: Conv2dOptions): NodeRef {
    const who = 'conv2d';
    // Attributes first: a call that fails leaves the graph unchanged.
    const attrs = {
      strides: checkPair(who, 'strides', o.strides ?? 1, 1, 1024),
      dilations: checkPair(who, 'dilations', o.dilations ?? 1, 1, 1024),
      groups: checkInteger(who, 'groups', o.groups ?? 1, 1, 65536),
      ...paddingAttrs(who, o.padding),
    };
    return this.withSources(who, name, [x], [['kernel', o.kernel], ['bias', o.bias]], attrs);
  }

  /** Fully connected layer: x [N, in] times the kernel [in, out], plus an optional bias. */
  dense(name: string, x: NodeRef, o: DenseOptions): NodeRef {
    return this.withSources('dense', name, [x], [['kernel', o.kernel], ['bias', o.bias]], {});
  }

  /** max(x, 0). */
  relu(name: string, x: NodeRef): NodeRef {
    return this.plain('relu', name, [x]);
  }

  /** min(max(x, min), max); relu6 is clip(0, 6). */
  clip(name: string, x: NodeRef, o: { min: number; max: number }): NodeRef {
    const min = checkFinite('clip', 'min', o.min);
    const max = checkFinite('clip', 'max', o.max);
    if (min > max) throw invalidParameterError('clip', 'max', `number >= min (${min})`, max);
    return this.op('clip', name, [x], { min, max });
  }

  /** min(max(x, 0), 6) (MobileNet). */
  relu6(name: string, x: NodeRef): NodeRef {
    return this.clip(name, x, { min: 0, max: 6 });
  }

  /** alpha: finite; default 0.01. */
  leakyRelu(name: string, x: NodeRef, o: { alpha?: number } = {}): NodeRef {
    return this.op('leaky_relu', name, [x], { alpha: checkFinite('leaky_relu', 'alpha', o.alpha ?? 0.01) });
  }

  /** 1 / (1 + e^-x). */
  sigmoid(name: string, x: NodeRef): NodeRef {
    return this.plain('sigmoid', name, [x]);
  }

  /** Hyperbolic tangent. */
  tanh(name: string, x: NodeRef): NodeRef {
    return this.plain('tanh', name, [x]);
  }

  /** |x|; its gradient is sign(x), 0 at 0. */
  abs(name: string, x: NodeRef): NodeRef {
    return this.plain('abs', name, [x]);
  }

  private pool(op: 'max_pool' | 'avg_pool', name: string, x: NodeRef, o: PoolOptions): NodeRef {
    const size = checkPair(op, 'size', o?.size, 1, 1024);
    return this.op(op, name, [x], {
      kernel: size,
      strides: checkPair(op, 'strides', o.strides ?? size, 1, 1024),
      dilations: checkPair(op, 'dilations', o.dilations ?? 1, 1, 1024),
      ceilMode: checkBoolean(op, 'ceilMode', o.ceilMode ?? false),
      countIncludePad: checkBoolean(op, 'countIncludePad', o.countIncludePad ?? false),
      ...paddingAttrs(op, o.padding),
    });
  }

  /** Max pooling over each window. */
  maxPool(name: string, x: NodeRef, o: PoolOptions): NodeRef {
    return this.pool('max_pool', name, x, o);
  }

  /** Average pooling over each window. */
  avgPool(name: string, x: NodeRef, o: PoolOptions): NodeRef {
    return this.pool('avg_pool', name, x, o);
  }

  /** Mean over height and width: [N, H, W, C] to [N, 1, 1, C]. */
  globalAvgPool(name: string, x: NodeRef): NodeRef {
    return this.plain('global_avg_pool', name, [x]);
  }

  /** Maximum over height and width: [N, H, W, C] to [N, 1, 1, C]. */
  globalMaxPool(name: string, x: NodeRef): NodeRef {
    return this.plain('global_max_pool', name, [x]);
  }

  /** a + b with numpy broadcasting. */
  add(name: string, a: NodeRef, b: NodeRef): NodeRef {
    return this.plain('add', name, [a, b]);
  }

  /** a * b with numpy broadcasting. */
  mul(name: string, a: NodeRef, b: NodeRef): NodeRef {
    return this.plain('mul', name, [a, b]);
  }

  /** Joins inputs along axis (negative counts from the end; default -1, the channels). */
  concat(name: string, xs: NodeRef[], o: { axis?: number } = {}): NodeRef {
    if (!Array.isArray(xs) || xs.length < 1) throw invalidParameterError('concat', 'inputs', 'non-empty array of node names', xs);
    return this.op('concat', name, xs, { axis: checkInteger('concat', 'axis', o.axis ?? -1, -8, 7) });
  }

  /** Softmax along `axis` (default the last). */
  softmax(name: string, x: NodeRef, o: { axis?: number } = {}): NodeRef {
    return this.op('softmax', name, [x], { axis: checkInteger('softmax', 'axis', o.axis ?? -1, -8, 7) });
  }

  /** Log of the softmax along `axis` (default the last), computed stably. */
  logSoftmax(name: string, x: NodeRef, o: { axis?: number } = {}): NodeRef {
    return this.op('log_softmax', name, [x], { axis: checkInteger('log_softmax', 'axis', o.axis ?? -1, -8, 7) });
  }

  /** Local response normalization across channels (ONNX semantics). */
  lrn(name: string, x: NodeRef, o: LrnOptions = {}): NodeRef {
    return this.op('lrn', name, [x], {
      size: checkInteger('lrn', 'size', o.size ?? 5, 1, 1024),
      alpha: checkFinite('lrn', 'alpha', o.alpha ?? 1e-4),
      beta: checkFinite('lrn', 'beta', o.beta ?? 0.75),
      bias: checkNumber('lrn', 'bias', o.bias ?? 1, Number.MIN_VALUE),
    });
  }

  /** Inference batch-norm over the last axis: (x - mean) / sqrt(variance + epsilon) * scale + offset. */
  batchNorm(name: string, x: NodeRef, o: BatchNormOptions): NodeRef {
    const who = 'batch_norm';
    const attrs = { epsilon: checkNumber(who, 'epsilon', o.epsilon ?? 1e-5, 0, 1) };
    const sources: [string, ParamSource | undefined][] = [
      ['gamma', o.scale],
      ['beta', o.offset],
      ['moving_mean', o.mean],
      ['moving_variance', o.variance],
    ];
    sources.forEach(([role, s]) => {
      if (s === undefined) throw invalidParameterError(who, role, 'a tensor or the name of an earlier node', s);
    });
    return this.withSources(who, name, [x], sources, attrs);
  }

  /** ONNX reshape: 0 copies the input's dimension, one -1 is inferred. */
  reshape(name: string, x: NodeRef, shape: number[]): NodeRef {
    return this.op('reshape', name, [x], { shape: checkShape('reshape', 'shape', shape, true) });
  }

  /** [d0..d(axis-1), d(axis)..] -> [product before axis, product from axis]; default axis 1. */
  flatten(name: string, x: NodeRef, o: { axis?: number } = {}): NodeRef {
    return this.op('flatten', name, [x], { axis: checkInteger('flatten', 'axis', o.axis ?? 1, -8, 8) });
  }

  /** Pads each dimension (see PadOptions). */
  pad(name: string, x: NodeRef, o: PadOptions): NodeRef {
    if (!Array.isArray(o?.pads) || o.pads.length % 2 || o.pads.length > 16)
      throw invalidParameterError('pad', 'pads', 'array of 2*rank integers', o?.pads);
    o.pads.forEach((p, i) => checkInteger('pad', `pads[${i}]`, p, 0, 65536));
    return this.op('pad', name, [x], {
      pads: [...o.pads],
      mode: checkOneOf('pad', 'mode', o.mode ?? 'constant', ['constant', 'reflect', 'edge'] as const),
      value: checkFinite('pad', 'value', o.value ?? 0),
    });
  }

  /** Bilinear resize of height and width. */
  resizeBilinear(name: string, x: NodeRef, o: ResizeOptions): NodeRef {
    const who = 'resize_bilinear';
    return this.op(who, name, [x], {
      height: checkInteger(who, 'height', o?.height, 1, 65536),
      width: checkInteger(who, 'width', o?.width, 1, 65536),
      coord: checkOneOf(who, 'coord', o.coord ?? 'half_pixel', ['half_pixel', 'align_corners', 'asymmetric'] as const),
    });
  }

  /** Gram matrix per image: F [N,H,W,C] -> G [N,C,C] = FᵀF / (H·W). */
  gram(name: string, x: NodeRef): NodeRef {
    return this.plain('gram', name, [x]);
  }

  /** mean((a - target)²), a scalar. */
  mseLoss(name: string, a: NodeRef, target: NodeRef): NodeRef {
    return this.plain('mse_loss', name, [a, target]);
  }

  /** sqrt(mean((a - target)²)), a scalar. */
  rmsLoss(name: string, a: NodeRef, target: NodeRef): NodeRef {
    return this.plain('rms_loss', name, [a, target]);
  }

  /** Σ x², a scalar (Deep Dream's objective is its square root, the L2 magnitude). */
  sumSquares(name: string, x: NodeRef): NodeRef {
    return this.plain('sum_squares', name, [x]);
  }

  /** Permutes dimensions: output dimension i is input dimension perm[i]. */
  transpose(name: string, x: NodeRef, perm: number[]): NodeRef {
    if (!Array.isArray(perm) || perm.length > 8) throw invalidParameterError('transpose', 'perm', 'array of axes', perm);
    perm.forEach((p, i) => checkInteger('transpose', `perm[${i}]`, p, 0, 7));
    return this.op('transpose', name, [x], { perm: [...perm] });
  }

  /** Compiles the graph into a native Program on the chosen backend. */
  compile(options: CompileOptions = {}): Network {
    const backend = checkOneOf('compile', 'backend', options.backend ?? 'cpu', BACKENDS);
    const tf32 = options.tf32 ?? false;
    if (typeof tf32 !== 'boolean') throw invalidParameterError('compile', 'tf32', 'true or false', tf32);
    const allowNonFinite = options.allowNonFinite ?? false;
    if (typeof allowNonFinite !== 'boolean') throw invalidParameterError('compile', 'allowNonFinite', 'true or false', allowNonFinite);
    const nodes: NativeNodeDesc[] = this.defs.map((d) => {
      if (d.kind === 'input') return { name: d.name, kind: 'input', shape: d.shape };
      if (d.kind === 'param') {
        d.value.assertLive(`compile: param '${d.name}'`);
        if (!allowNonFinite) checkFiniteTensor(`compile: param '${d.name}'`, d.value);
        return { name: d.name, kind: 'param', value: d.value.handle };
      }
      return { name: d.name, kind: 'op', op: d.op, inputs: d.inputs.map((r) => this.index.get(r)!), attrs: d.attrs };
    });
    const program = new (addon().NativeProgram)({ nodes }, backend, { tf32 });
    const inputs = this.defs.filter((d) => d.kind === 'input').map((d) => d.name);
    return new Network(program, inputs, this.last, allowNonFinite);
  }
}
