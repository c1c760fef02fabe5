// eyecandy: neural image work on pretrained CNNs with a native C++/CUDA core.
export { Tensor, tidy, keep, memoryStats, resetMemoryPeak } from './tensor';
export type { Device, DeviceMemory } from './tensor';
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
export type { CompileOptions, ForwardOptions, BackwardOptions, Gradients, NetworkMemory } from './nn/network';
export { doctor, setThreads, opNames } from './info';
export type { Doctor, BackendStatus } from './info';
export { addonPath } from './native';
/** Whole-tensor vector routines (dot, axpy, norms, clamp, Adam step, roll) and the symmetric eigen-decomposition, each one native call. */
export * as linalg from './linalg';
export { readImage, writeImage, resizeImage, imageToTensor, tensorToImage, decodeBmp } from './image';
export type { Image, ReadImageOptions, WriteImageOptions, ImageResizeOptions, ResizeMode } from './image/io';
export { loadModel } from './models/load';
export type { Model, LoadModelOptions } from './models/load';
export { loadOnnx } from './models/onnx';
export { loadTfjs } from './models/tfjs';
export { loadKerasH5 } from './models/keras/h5';
export { toFullyConvolutional, poolClassMap } from './nn/rewrites/fcn';
export type { MapPooling } from './nn/rewrites/fcn';
export { featureGraph } from './nn/rewrites/features';
export { ZOO, fetchModel } from './models/zoo';
export type { LoadedModel, Preprocess } from './models/types';
export { classify } from './tasks/classify';
export type { ClassifyOptions, ClassifyResult, Classification } from './tasks/classify';
export { locate } from './tasks/locate';
export { writeLocateReport } from './tasks/report';
export type { LocateOptions, LocateResult, PrincipalMask, MaskSide, Box } from './tasks/locate';
export { style } from './tasks/style';
export type { StyleOptions, StyleResult } from './tasks/style';
export { lbfgs, adam } from './optim';
export { dream } from './tasks/dream';
export type { DreamOptions, DreamResult } from './tasks/dream';
export { loadTflite } from './models/tflite';
