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

export class Sequential {
  /** The underlying graph, for taps, losses and branches. */
  readonly graph = new Graph();

  constructor(inputName = 'input', inputShape?: number[]) {
    this.graph.input(inputName, inputShape);
  }

  /** The name of the last layer. */
  get last(): NodeRef {
    return this.graph.last;
  }

  conv2d(name: string, o: Conv2dOptions): this {
    this.graph.conv2d(name, this.last, o);
    return this;
  }
  dense(name: string, o: DenseOptions): this {
    this.graph.dense(name, this.last, o);
    return this;
  }
  relu(name: string): this {
    this.graph.relu(name, this.last);
    return this;
  }
  relu6(name: string): this {
    this.graph.relu6(name, this.last);
    return this;
  }
  clip(name: string, o: { min: number; max: number }): this {
    this.graph.clip(name, this.last, o);
    return this;
  }
  leakyRelu(name: string, o: { alpha?: number } = {}): this {
    this.graph.leakyRelu(name, this.last, o);
    return this;
  }
  sigmoid(name: string): this {
    this.graph.sigmoid(name, this.last);
    return this;
  }
  tanh(name: string): this {
    this.graph.tanh(name, this.last);
    return this;
  }
  maxPool(name: string, o: PoolOptions): this {
    this.graph.maxPool(name, this.last, o);
    return this;
  }
  avgPool(name: string, o: PoolOptions): this {
    this.graph.avgPool(name, this.last, o);
    return this;
  }
  globalAvgPool(name: string): this {
    this.graph.globalAvgPool(name, this.last);
    return this;
  }
  globalMaxPool(name: string): this {
    this.graph.globalMaxPool(name, this.last);
    return this;
  }
  softmax(name: string, o: { axis?: number } = {}): this {
    this.graph.softmax(name, this.last, o);
    return this;
  }
  logSoftmax(name: string, o: { axis?: number } = {}): this {
    this.graph.logSoftmax(name, this.last, o);
    return this;
  }
  lrn(name: string, o: LrnOptions = {}): this {
    this.graph.lrn(name, this.last, o);
    return this;
  }
  batchNorm(name: string, o: BatchNormOptions): this {
    this.graph.batchNorm(name, this.last, o);
    return this;
  }
  reshape(name: string, shape: number[]): this {
    this.graph.reshape(name, this.last, shape);
    return this;
  }
  flatten(name: string, o: { axis?: number } = {}): this {
    this.graph.flatten(name, this.last, o);
    return this;
  }
  pad(name: string, o: PadOptions): this {
    this.graph.pad(name, this.last, o);
    return this;
  }
  resizeBilinear(name: string, o: ResizeOptions): this {
    this.graph.resizeBilinear(name, this.last, o);
    return this;
  }
  gram(name: string): this {
    this.graph.gram(name, this.last);
    return this;
  }
  sumSquares(name: string): this {
    this.graph.sumSquares(name, this.last);
    return this;
  }

  compile(options: CompileOptions = {}): Network {
    return this.graph.compile(options);
  }
}
