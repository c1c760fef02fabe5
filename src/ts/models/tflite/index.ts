// TFLite model loading: read the flatbuffer, convert subgraph 0 to our graph.
//
//   const model = await loadTflite('mobilenet_v1_0.25_224_1_default_1.tflite');
//   const net = model.graph.compile();
//   const out = await net.forward(imageNhwc, { taps: [model.output] });
//
// TFLite is NHWC like our graphs, so no layout changes are needed; weights are
// re-laid out at load time (conv OHWI -> HWIO, depthwise [1,H,W,C*M] -> HWIO
// [H,W,1,C*M] with groups = C, fully connected [out,in] -> [in,out]).
//
// Quantized models (uint8 / int8, per-tensor or per-channel) are DEQUANTIZED at
// load time: every constant becomes (q - zero_point) * scale in float32
// (int32 biases with their own scale), and the graph computes the real-valued
// network in float. Each quantized op's output is clipped to the range its
// 8-bit type can hold, as the integer kernels saturate (old uint8 models such
// as MobileNet v1 quant express RELU6 only that way), but activations are not
// rounded to 8 bits between layers, so results differ slightly from TFLite's
// integer interpreter (MobileNet v1 0.25 quant on burger_224: cheeseburger
// 0.973 here vs 0.96 ± 0.01 from tflite-support's test).
// The graph's input is the REAL value: when the file's input tensor is
// quantized, `inputQuantization` says how raw values map to it, real =
// (q - zeroPoint) * scale; for mobilenet_v1_0.25_224_quant.tflite (scale 1/128,
// zero point 128) that is rgb/128 - 1.
import { readSource } from '../source';
import { convertTflite, TfliteModel } from './convert';
import { decodeTflite } from './schema';

export { decodeTflite } from './schema';
export type { TfliteModelFile, TfliteOperator, TfliteSubgraph, TfliteTensor, TfliteQuantization } from './schema';
export { SUPPORTED_TFLITE_OPS } from './ops';
export type { TfliteModel } from './convert';

export interface TfliteOptions {
  /** Name used in error messages when `source` is bytes; default '<bytes>'. */
  label?: string;
}

/**
 * Loads a TFLite model (a file path or the file's bytes) as a graph in our
 * builder, keeping the TFLite tensor names as node names. Rejects with an
 * error naming the file and operator when the file is corrupt or uses
 * something eyecandy lacks.
 */
export async function loadTflite(source: string | Uint8Array, options: TfliteOptions = {}): Promise<TfliteModel> {
  const [bytes, label] = await readSource('tflite', 'loadTflite', source, options.label);
  return convertTflite(decodeTflite(bytes, label), label);
}
