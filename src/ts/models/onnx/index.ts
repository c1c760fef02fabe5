// ONNX model loading: parse the protobuf file, convert its graph to ours.
//
//   const model = await loadOnnx('mobilenet.onnx');
//   const net = model.graph.compile();
//   const out = await net.forward(imageNhwc, { taps: [model.output] });
import { readSource } from '../source';
import { convertModel, OnnxModel, OnnxOptions } from './convert';
import { decodeModel, decodeTensorFile } from './protobuf';
import { ConstTensor, tensorValues } from './tensor-data';

export { CONSTANT_INPUTS, supportedOnnxOps } from './convert';
export type { OnnxModel, OnnxOptions, OnnxValueInfo } from './convert';
export type { ConstTensor } from './tensor-data';
export { decodeModel } from './protobuf';
export type { ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto } from './protobuf';

/**
 * Loads an ONNX model (a file path or the file's bytes) as a graph in our
 * builder: NHWC images, ONNX node names kept. Rejects with an error naming the
 * file, node and op when the file is corrupt or uses something eyecandy lacks.
 */
export async function loadOnnx(source: string | Uint8Array, options: OnnxOptions = {}): Promise<OnnxModel> {
  const [bytes, label] = await readSource('onnx', 'loadOnnx', source, options.label);
  return convertModel(decodeModel(bytes, label), label, options);
}

/** Reads a serialized TensorProto (e.g. an ONNX test's input_0.pb): dims in ONNX order and values. */
export async function readOnnxTensor(source: string | Uint8Array, label?: string): Promise<ConstTensor> {
  const [bytes, name] = await readSource('onnx', 'readOnnxTensor', source, label);
  return tensorValues(decodeTensorFile(bytes, name), `onnx: ${name}`);
}
