// Sequential: a Graph where each layer takes the previous one's output.
//
//   const s = new Sequential('image', [-1, 32, 32, 3]);
//   s.conv2d('conv1', { kernel, padding: 'same' }).relu('relu1').maxPool('pool1', { size: 2 });
//   const net = s.compile();
import {
  BatchNormOptions,
  Conv2dOptions,
  DenseOptions,
  Graph,
  LrnOptions,
  NodeRef,
  PadOptions,
  PoolOptions,
  ResizeOptions,
} from './graph';
import { CompileOptions, Network } from './network';

/** A Graph where each layer takes the previous layer's output: `new Sequential('image', [-1, 32, 32, 3]).conv2d('c1', { kernel }).relu('r1').compile()`. Each method adds one layer (see the Graph method of the same name) and returns `this`. */
export class Sequential {
  /** The underlying graph, for taps, losses and branches. */
  readonly graph = new Graph();

  /** Starts with an input node `inputName` of shape `inputShape` (NHWC, -1 for any size). */
  constructor(inputName = 'input', inputShape?: number[]) {
    this.graph.input(inputName, inputShape);
  }

  /** The name of the last layer. */
  get last(): NodeRef {
    return this.graph.last;
  }

  /** 2-D convolution (see Graph.conv2d). */
  conv2d(name: string, o: Conv2dOptions): this {
    this.graph.conv2d(name, this.last, o);
    return this;
  }
  /** Fully connected layer (see Graph.dense). */
  dense(name: string, o: DenseOptions): this {
    this.graph.dense(name, this.last, o);
    return this;
  }
  /** max(x, 0). */
  relu(name: string): this {
    this.graph.relu(name, this.last);
    return this;
  }
  /** min(max(x, 0), 6). */
  relu6(name: string): this {
    this.graph.relu6(name, this.last);
    return this;
  }
  /** Clamps to [min, max]. */
  clip(name: string, o: { min: number; max: number }): this {
    this.graph.clip(name, this.last, o);
    return this;
  }
  /** x for x > 0, alpha·x otherwise (alpha default 0.01). */
  leakyRelu(name: string, o: { alpha?: number } = {}): this {
    this.graph.leakyRelu(name, this.last, o);
    return this;
  }
  /** 1 / (1 + e^-x). */
  sigmoid(name: string): this {
    this.graph.sigmoid(name, this.last);
    return this;
  }
  /** Hyperbolic tangent. */
  tanh(name: string): this {
    this.graph.tanh(name, this.last);
    return this;
  }
  /** Max pooling. */
  maxPool(name: string, o: PoolOptions): this {
    this.graph.maxPool(name, this.last, o);
    return this;
  }
  /** Average pooling. */
  avgPool(name: string, o: PoolOptions): this {
    this.graph.avgPool(name, this.last, o);
    return this;
  }
  /** Mean over height and width. */
  globalAvgPool(name: string): this {
    this.graph.globalAvgPool(name, this.last);
    return this;
  }
  /** Maximum over height and width. */
  globalMaxPool(name: string): this {
    this.graph.globalMaxPool(name, this.last);
    return this;
  }
  /** Softmax along `axis` (default the last). */
  softmax(name: string, o: { axis?: number } = {}): this {
    this.graph.softmax(name, this.last, o);
    return this;
  }
  /** Log-softmax along `axis` (default the last). */
  logSoftmax(name: string, o: { axis?: number } = {}): this {
    this.graph.logSoftmax(name, this.last, o);
    return this;
  }
  /** Local response normalisation. */
  lrn(name: string, o: LrnOptions = {}): this {
    this.graph.lrn(name, this.last, o);
    return this;
  }
  /** Inference-time batch normalisation. */
  batchNorm(name: string, o: BatchNormOptions): this {
    this.graph.batchNorm(name, this.last, o);
    return this;
  }
  /** Reshape to `shape` (-1 for one inferred dimension). */
  reshape(name: string, shape: number[]): this {
    this.graph.reshape(name, this.last, shape);
    return this;
  }
  /** Flattens the dimensions from `axis` (default 1) on into one. */
  flatten(name: string, o: { axis?: number } = {}): this {
    this.graph.flatten(name, this.last, o);
    return this;
  }
  /** Pads each dimension (see PadOptions). */
  pad(name: string, o: PadOptions): this {
    this.graph.pad(name, this.last, o);
    return this;
  }
  /** Bilinear resize. */
  resizeBilinear(name: string, o: ResizeOptions): this {
    this.graph.resizeBilinear(name, this.last, o);
    return this;
  }
  /** Gram matrix of the channels, averaged over pixels (style losses). */
  gram(name: string): this {
    this.graph.gram(name, this.last);
    return this;
  }
  /** Sum of squares of all values: a scalar, e.g. a loss. */
  sumSquares(name: string): this {
    this.graph.sumSquares(name, this.last);
    return this;
  }

  /** Compiles the graph into a Network (see Graph.compile). */
  compile(options: CompileOptions = {}): Network {
    return this.graph.compile(options);
  }
}
