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
import { promises as fs } from 'fs';

import { Graph, NodeRef, Padding } from '../../nn/graph';
import { Tensor } from '../../tensor';
import { invalidParameterError } from '../../validate';
import { LoadedModel } from '../types';
import { Table } from './flatbuffer';
import { decodeTflite, TfliteModelFile, TfliteOperator, TfliteQuantization, TfliteSubgraph, TfliteTensor } from './schema';

export { decodeTflite } from './schema';
export type { TfliteModelFile, TfliteOperator, TfliteSubgraph, TfliteTensor, TfliteQuantization } from './schema';

export interface TfliteOptions {
  /** Name used in error messages when `source` is bytes; default '<bytes>'. */
  label?: string;
}

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

/** The TFLite builtin ops this loader converts. */
export const SUPPORTED_TFLITE_OPS = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'MAX_POOL_2D',
  'RELU', 'RELU6', 'RESHAPE', 'SOFTMAX', 'SQUEEZE',
] as const;

async function readSource(source: string | Uint8Array, label?: string): Promise<[Uint8Array, string]> {
  if (typeof source === 'string') {
    try {
      return [await fs.readFile(source), source];
    } catch (err) {
      throw new Error(`tflite: ${source}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (source instanceof Uint8Array) return [source, label ?? '<bytes>'];
  throw invalidParameterError('loadTflite', 'source', 'a file path or Uint8Array', source);
}

/**
 * Loads a TFLite model (a file path or the file's bytes) as a graph in our
 * builder, keeping the TFLite tensor names as node names. Rejects with an
 * error naming the file and operator when the file is corrupt or uses
 * something eyecandy lacks.
 */
export async function loadTflite(source: string | Uint8Array, options: TfliteOptions = {}): Promise<TfliteModel> {
  const [bytes, label] = await readSource(source, options.label);
  return convertTflite(decodeTflite(bytes, label), label);
}

// ---- constants ---------------------------------------------------------------

const ELEMENT_SIZE: Record<string, number> = { FLOAT32: 4, INT32: 4, UINT8: 1, INT8: 1, INT16: 2, INT64: 8 };

/** A constant tensor's values as real numbers (quantized ones dequantized). */
function constValues(t: TfliteTensor, data: Uint8Array, who: string): Float32Array {
  const size = ELEMENT_SIZE[t.type];
  if (!size) throw new Error(`${who}: constant tensor '${t.name}' has type ${t.type}, which eyecandy does not read`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (data.length !== count * size)
    throw new Error(`${who}: constant tensor '${t.name}' holds ${data.length} bytes; shape [${t.shape.join(',')}] of ${t.type} needs ${count * size}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const raw = (i: number): number => {
    switch (t.type) {
      case 'FLOAT32':
        return view.getFloat32(4 * i, true);
      case 'INT32':
        return view.getInt32(4 * i, true);
      case 'UINT8':
        return view.getUint8(i);
      case 'INT8':
        return view.getInt8(i);
      case 'INT16':
        return view.getInt16(2 * i, true);
      default:
        return Number(view.getBigInt64(8 * i, true));
    }
  };
  const out = new Float32Array(count);
  const q = t.type === 'FLOAT32' ? undefined : t.quantization;
  if (!q) {
    for (let i = 0; i < count; ++i) out[i] = raw(i);
    return out;
  }
  // Per-channel: the slice index along q.dimension picks the scale.
  const perChannel = q.scale.length > 1;
  const dim = q.dimension;
  if (perChannel && (dim < 0 || dim >= t.shape.length || t.shape[dim] !== q.scale.length))
    throw new Error(`${who}: tensor '${t.name}': ${q.scale.length} scales do not match dimension ${dim} of [${t.shape.join(',')}]`);
  const inner = perChannel ? t.shape.slice(dim + 1).reduce((a, b) => a * b, 1) : 1;
  const channels = q.scale.length;
  for (let i = 0; i < count; ++i) {
    const c = perChannel ? Math.floor(i / inner) % channels : 0;
    out[i] = (raw(i) - (q.zeroPoint[c] ?? 0)) * q.scale[c];
  }
  return out;
}

// ---- conversion --------------------------------------------------------------

const PADDING: Record<number, Padding> = { 0: 'same', 1: 'valid' };

/** The real values an 8-bit quantized tensor can hold, [lo, hi]; undefined for other tensors. */
function quantRange(t: TfliteTensor): [number, number] | undefined {
  const q = t.quantization;
  if (!q || q.scale.length !== 1 || (t.type !== 'UINT8' && t.type !== 'INT8')) return undefined;
  const [lo, hi] = t.type === 'UINT8' ? [0, 255] : [-128, 127];
  const zp = q.zeroPoint[0] ?? 0;
  return [(lo - zp) * q.scale[0], (hi - zp) * q.scale[0]];
}

function sameRange(a: [number, number] | undefined, b: [number, number] | undefined): boolean {
  return !!a && !!b && a[0] === b[0] && a[1] === b[1];
}

function convertTflite(file: TfliteModelFile, label: string): TfliteModel {
  const sg = file.subgraphs[0];
  if (!sg) throw new Error(`tflite: ${label}: the model has no subgraph`);
  const g = new Graph();
  const layers: string[] = [];
  /** Graph node holding each tensor's (real) value, by tensor index. */
  const nodes = new Map<number, NodeRef>();
  const where = (op: TfliteOperator): string => `tflite: ${label}: operator ${op.index} (${op.op})`;

  const tensor = (i: number, who: string): TfliteTensor => {
    const t = sg.tensors[i];
    if (!t) throw new Error(`${who}: tensor index ${i} is out of range (the subgraph has ${sg.tensors.length})`);
    return t;
  };
  const data = (t: TfliteTensor): Uint8Array | undefined => {
    const d = file.buffers[t.buffer];
    return d && d.length ? d : undefined;
  };
  const unique = (base: string): string => {
    let name = base.slice(0, 240);
    for (let k = 1; g.has(name); ++k) name = `${base.slice(0, 240)}_${k}`;
    return name;
  };
  const nameOf = (t: TfliteTensor): string => unique(t.name || `tensor${t.index}`);
  /** A constant input as a tensor with its real values. */
  const constant = (op: TfliteOperator, pos: number, role: string, shape?: number[]): Tensor => {
    const t = tensor(op.inputs[pos], where(op));
    const d = data(t);
    if (!d) throw new Error(`${where(op)}: the ${role} (input ${pos}, '${t.name}') must be a constant`);
    return Tensor.from(constValues(t, d, where(op)), shape ?? t.shape);
  };
  /** The node for an operator's input: an earlier op's output, the graph input, or a constant as a param. */
  const input = (op: TfliteOperator, pos: number): NodeRef => {
    const idx = op.inputs[pos];
    const have = nodes.get(idx);
    if (have) return have;
    const t = tensor(idx, where(op));
    const d = data(t);
    if (!d) throw new Error(`${where(op)}: input ${pos} ('${t.name}') is not produced by the graph input, a constant or an earlier operator`);
    const name = g.param(nameOf(t), Tensor.from(constValues(t, d, where(op)), t.shape));
    nodes.set(idx, name);
    return name;
  };
  const inShape = (op: TfliteOperator, pos = 0): number[] => tensor(op.inputs[pos], where(op)).shape;
  const optional = (op: TfliteOperator, pos: number): boolean => op.inputs.length > pos && op.inputs[pos] >= 0;

  /**
   * Adds the main op, its fused activation and, for a quantized output, a clip to the range its
   * 8-bit type can hold (the integer kernels saturate there: old uint8 models such as MobileNet
   * quant express RELU6 only this way). The last node is named after the output tensor.
   */
  const emit = (op: TfliteOperator, fused: number, build: (name: string) => NodeRef): void => {
    const out = tensor(op.outputs[0], where(op));
    const name = nameOf(out);
    const range = quantRange(out);
    const src = op.inputs.length ? sg.tensors[op.inputs[0]] : undefined;
    const passThrough = ['RESHAPE', 'SQUEEZE', 'MAX_POOL_2D', 'AVERAGE_POOL_2D'].includes(op.op);
    const clamp = range && !(passThrough && src && sameRange(range, quantRange(src)));
    const acts: ((n: string, x: NodeRef) => NodeRef)[] = [];
    switch (fused) {
      case 0:
        break;
      case 1:
        acts.push((n, x) => g.relu(n, x));
        break;
      case 2:
        acts.push((n, x) => g.clip(n, x, { min: -1, max: 1 }));
        break;
      case 3:
        acts.push((n, x) => g.relu6(n, x));
        break;
      case 4:
        acts.push((n, x) => g.tanh(n, x));
        break;
      default:
        throw new Error(`${where(op)}: fused activation ${fused} is not supported`);
    }
    if (clamp) acts.push((n, x) => g.clip(n, x, { min: range[0], max: range[1] }));
    let node = build(acts.length ? unique(`${name}/${op.op.toLowerCase()}`) : name);
    layers.push(node);
    acts.forEach((act, k) => {
      const last = k === acts.length - 1;
      node = act(last ? name : unique(`${name}/${fused === 3 ? 'relu6' : 'activation'}`), node);
      layers.push(node);
    });
    nodes.set(op.outputs[0], node);
  };
  const padding = (op: TfliteOperator, o: Table | undefined): Padding => {
    const p = PADDING[o?.i8(0) ?? 0];
    if (!p) throw new Error(`${where(op)}: padding ${o?.i8(0)} is not SAME or VALID`);
    return p;
  };
  const stride = (op: TfliteOperator, o: Table | undefined, hField: number, wField: number): [number, number] => {
    const s: [number, number] = [o?.i32(hField) ?? 0, o?.i32(wField) ?? 0];
    if (!(s[0] >= 1 && s[1] >= 1)) throw new Error(`${where(op)}: stride [${s.join(', ')}] must be at least 1`);
    return s;
  };

  // The graph input: the subgraph's first input (others must be constants).
  const live = sg.inputs.filter((i) => !data(tensor(i, `tflite: ${label}`)));
  if (live.length !== 1) throw new Error(`tflite: ${label}: the model has ${live.length} inputs; eyecandy loads models with exactly one`);
  const inT = tensor(live[0], `tflite: ${label}`);
  const inputName = g.input(nameOf(inT), inT.shape);
  nodes.set(inT.index, inputName);

  let logits: NodeRef | undefined;
  for (const op of sg.operators) {
    const o = op.options;
    switch (op.op) {
      case 'CONV_2D': {
        // Conv2DOptions: padding (0), stride_w (1), stride_h (2), fused (3), dilation_w (4), dilation_h (5).
        const [co, kh, kw, ci] = inShape(op, 1);
        const cin = inShape(op)[3];
        if (!(ci > 0 && cin % ci === 0 && co % (cin / ci) === 0))
          throw new Error(`${where(op)}: filter [${inShape(op, 1).join(',')}] does not fit ${cin} input channels`);
        const w = constValues(tensor(op.inputs[1], where(op)), data(tensor(op.inputs[1], where(op))) ?? new Uint8Array(), where(op));
        const hwio = new Float32Array(w.length);
        for (let oc = 0; oc < co; ++oc)
          for (let y = 0; y < kh; ++y)
            for (let x = 0; x < kw; ++x)
              for (let ic = 0; ic < ci; ++ic) hwio[((y * kw + x) * ci + ic) * co + oc] = w[((oc * kh + y) * kw + x) * ci + ic];
        const kernel = Tensor.from(hwio, [kh, kw, ci, co]);
        const bias = optional(op, 2) ? constant(op, 2, 'bias') : undefined;
        const x = input(op, 0);
        emit(op, o?.i8(3) ?? 0, (name) =>
          g.conv2d(name, x, {
            kernel,
            bias,
            strides: stride(op, o, 2, 1),
            dilations: [o?.i32(5, 1) ?? 1, o?.i32(4, 1) ?? 1],
            padding: padding(op, o),
            groups: cin / ci,
          }),
        );
        break;
      }
      case 'DEPTHWISE_CONV_2D': {
        // DepthwiseConv2DOptions: padding (0), stride_w (1), stride_h (2), depth_multiplier (3), fused (4),
        // dilation_w (5), dilation_h (6). Filter [1, KH, KW, C*M] is already HWIO [KH, KW, 1, C*M] in memory.
        const [one, kh, kw, cm] = inShape(op, 1);
        const cin = inShape(op)[3];
        if (one !== 1 || !(cin > 0 && cm % cin === 0))
          throw new Error(`${where(op)}: filter [${inShape(op, 1).join(',')}] does not fit ${cin} input channels`);
        const kernel = constant(op, 1, 'filter', [kh, kw, 1, cm]);
        const bias = optional(op, 2) ? constant(op, 2, 'bias') : undefined;
        const x = input(op, 0);
        emit(op, o?.i8(4) ?? 0, (name) =>
          g.conv2d(name, x, {
            kernel,
            bias,
            strides: stride(op, o, 2, 1),
            dilations: [o?.i32(6, 1) ?? 1, o?.i32(5, 1) ?? 1],
            padding: padding(op, o),
            groups: cin,
          }),
        );
        break;
      }
      case 'AVERAGE_POOL_2D':
      case 'MAX_POOL_2D': {
        // Pool2DOptions: padding (0), stride_w (1), stride_h (2), filter_width (3), filter_height (4), fused (5).
        const x = input(op, 0);
        const pool = {
          size: [o?.i32(4) ?? 0, o?.i32(3) ?? 0] as [number, number],
          strides: stride(op, o, 2, 1),
          padding: padding(op, o),
        };
        emit(op, o?.i8(5) ?? 0, (name) => (op.op === 'MAX_POOL_2D' ? g.maxPool(name, x, pool) : g.avgPool(name, x, pool)));
        break;
      }
      case 'FULLY_CONNECTED': {
        // FullyConnectedOptions: fused (0), weights_format (1), keep_num_dims (2).
        if ((o?.i8(1) ?? 0) !== 0) throw new Error(`${where(op)}: shuffled weights are not supported`);
        const [units, depth] = inShape(op, 1);
        const w = constValues(tensor(op.inputs[1], where(op)), data(tensor(op.inputs[1], where(op))) ?? new Uint8Array(), where(op));
        const io = new Float32Array(w.length);
        for (let u = 0; u < units; ++u) for (let d = 0; d < depth; ++d) io[d * units + u] = w[u * depth + d];
        const kernel = Tensor.from(io, [depth, units]);
        const bias = optional(op, 2) ? constant(op, 2, 'bias') : undefined;
        let x = input(op, 0);
        const xs = inShape(op);
        if (xs.length !== 2 || xs[1] !== depth) {
          x = g.reshape(unique(`${nameOf(tensor(op.outputs[0], where(op)))}/flatten`), x, [-1, depth]);
          layers.push(x);
        }
        const outShape = tensor(op.outputs[0], where(op)).shape;
        if (outShape.length !== 2) {
          // keep_num_dims: the dense result goes back to the output tensor's shape.
          emit(op, 0, (name) => {
            const d = g.dense(unique(`${name}/dense`), x, { kernel, bias });
            layers.push(d);
            return g.reshape(name, d, outShape);
          });
          if ((o?.i8(0) ?? 0) !== 0) throw new Error(`${where(op)}: a fused activation with keep_num_dims is not supported`);
        } else {
          emit(op, o?.i8(0) ?? 0, (name) => g.dense(name, x, { kernel, bias }));
        }
        break;
      }
      case 'RESHAPE':
      case 'SQUEEZE': {
        // The output tensor's shape is the result (TFLite stores it resolved).
        const x = input(op, 0);
        const shape = tensor(op.outputs[0], where(op)).shape;
        emit(op, 0, (name) => g.reshape(name, x, shape));
        break;
      }
      case 'SOFTMAX': {
        // SoftmaxOptions: beta (0).
        const beta = o?.f32(0) ?? 1;
        if (beta !== 1) throw new Error(`${where(op)}: beta ${beta} is not supported (only 1)`);
        const x = input(op, 0);
        logits = x;
        emit(op, 0, (name) => g.softmax(name, x, { axis: -1 }));
        break;
      }
      case 'ADD': {
        // AddOptions: fused (0).
        const a = input(op, 0);
        const b = input(op, 1);
        emit(op, o?.i8(0) ?? 0, (name) => g.add(name, a, b));
        break;
      }
      case 'CONCATENATION': {
        // ConcatenationOptions: axis (0), fused (1).
        const xs = op.inputs.map((_, i) => input(op, i));
        emit(op, o?.i8(1) ?? 0, (name) => g.concat(name, xs, { axis: o?.i32(0) ?? 0 }));
        break;
      }
      case 'RELU':
      case 'RELU6': {
        const x = input(op, 0);
        emit(op, 0, (name) => (op.op === 'RELU' ? g.relu(name, x) : g.relu6(name, x)));
        break;
      }
      default:
        throw new Error(`tflite: op ${op.op} (operator ${op.index}) is not supported by eyecandy`);
    }
  }

  const outIdx = sg.outputs[0];
  const output = outIdx === undefined ? undefined : nodes.get(outIdx);
  if (!output) throw new Error(`tflite: ${label}: the subgraph output is not computed by any operator`);
  const q: TfliteQuantization | undefined = inT.type === 'FLOAT32' ? undefined : inT.quantization;
  return {
    graph: g,
    input: inputName,
    inputShape: inT.shape.slice(),
    output,
    logits,
    layers,
    // types.ts's LoadedModel.format does not list 'tflite' yet (the lead widens it); until then, cast.
    format: 'tflite',
    version: file.version,
    inputType: inT.type,
    inputQuantization: q ? { scale: q.scale[0], zeroPoint: q.zeroPoint[0] ?? 0 } : undefined,
  };
}
