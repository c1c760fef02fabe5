// TFLite subgraph 0 -> our Graph: walks the operators in order, handing each
// to its converter in the op table (ops.ts), as the ONNX loader does.
import { LoadedModel } from '../types';
import { Context } from './context';
import { TFLITE_OPS } from './ops';
import { TfliteModelFile, TfliteQuantization } from './schema';

export interface TfliteModel extends LoadedModel {
  /** The file's schema version (3). */
  version: number;
  /** The input tensor's element type in the file ('FLOAT32', 'UINT8', ...). */
  inputType: string;
  /**
   * Set when the file's input is quantized: the graph takes the real value
   * (q - zeroPoint) * scale, e.g. rgb/128 - 1 for scale 1/128, zero point 128.
   */
  inputQuantization?: { scale: number; zeroPoint: number };
}

export function convertTflite(file: TfliteModelFile, label: string): TfliteModel {
  const sg = file.subgraphs[0];
  if (!sg) throw new Error(`tflite: ${label}: the model has no subgraph`);
  const c = new Context(file, sg, label);
  const g = c.g;

  // The graph input: the subgraph's first input (others must be constants).
  const live = sg.inputs.filter((i) => !c.data(c.tensor(i, `tflite: ${label}`)));
  if (live.length !== 1) throw new Error(`tflite: ${label}: the model has ${live.length} inputs; eyecandy loads models with exactly one`);
  const inT = c.tensor(live[0], `tflite: ${label}`);
  const inputName = g.input(c.nameOf(inT), inT.shape);
  c.nodes.set(inT.index, inputName);

  for (const op of sg.operators) {
    const convert = Object.prototype.hasOwnProperty.call(TFLITE_OPS, op.op) ? TFLITE_OPS[op.op] : undefined;
    if (!convert) throw new Error(`tflite: op ${op.op} (operator ${op.index}) is not supported by eyecandy`);
    convert(op, c);
  }

  const outIdx = sg.outputs[0];
  const output = outIdx === undefined ? undefined : c.nodes.get(outIdx);
  if (!output) throw new Error(`tflite: ${label}: the subgraph output is not computed by any operator`);
  const q: TfliteQuantization | undefined = inT.type === 'FLOAT32' ? undefined : inT.quantization;
  return {
    graph: g,
    input: inputName,
    inputShape: inT.shape.slice(),
    output,
    logits: c.logits,
    layers: c.layers,
    format: 'tflite',
    version: file.version,
    inputType: inT.type,
    inputQuantization: q ? { scale: q.scale[0], zeroPoint: q.zeroPoint[0] ?? 0 } : undefined,
  };
}
