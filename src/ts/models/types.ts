// What every model loader returns: a network graph in our builder (NHWC),
// with the source's layer names kept, and how to feed it.
import { Graph } from '../nn/graph';

/**
 * How raw RGB pixels (0..255) become the network's input:
 * - 'caffe': reverse to BGR and subtract the per-channel means (given in BGR order); no scaling.
 * - 'mean_std': (x/255 - mean) / std per RGB channel.
 * - 'minus_one_one': x/127.5 - 1 (MobileNet, Inception).
 */
export type Preprocess =
  | { kind: 'caffe'; meanBgr: [number, number, number] }
  | { kind: 'mean_std'; mean: [number, number, number]; std: [number, number, number] }
  | { kind: 'minus_one_one' };

/** What every loader returns: the network as a Graph and its input and output nodes. */
export interface LoadedModel {
  /** The network; its input node is `input`, NHWC float32. */
  graph: Graph;
  /** Name of the input node. */
  input: string;
  /** Expected input shape, NHWC, -1 where any size goes. */
  inputShape: number[];
  /** The last node of the network (probabilities when the source ends in a softmax). */
  output: string;
  /** The node holding pre-softmax class scores, when there is one. */
  logits?: string;
  /** Op nodes that carry the source's layer names, in order. */
  layers: string[];
  format: 'onnx' | 'tfjs' | 'keras' | 'tflite';
}

/** A concrete input shape to probe a model with: batch 1, and 224 for any other free dimension. */
export function probeShape(inputShape: number[]): number[] {
  return inputShape.map((d, i) => (d > 0 ? d : i === 0 ? 1 : i === inputShape.length - 1 && inputShape.length === 4 ? 3 : 224));
}
