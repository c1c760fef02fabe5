// eyecandy: neural image work on pretrained CNNs with a native C++/CUDA core.
export { Tensor, tidy, keep } from './tensor';
export { Graph } from './nn/graph';
export type {
  NodeRef,
  ParamSource,
  Padding,
  Conv2dOptions,
  DenseOptions,
  PoolOptions,
  LrnOptions,
  BatchNormOptions,
  PadOptions,
  ResizeOptions,
} from './nn/graph';
export { Sequential } from './nn/sequential';
export { Network } from './nn/network';
export type { CompileOptions, ForwardOptions, BackwardOptions, Gradients } from './nn/network';
export { doctor, setThreads, opNames } from './info';
export type { Doctor, BackendStatus } from './info';
