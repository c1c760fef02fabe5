// ONNX ModelProto -> our Graph. Walks the (topologically sorted) nodes once,
// handing each to its op converter; values keep their ONNX names in a map
// with the layout they are held in (rank 4 NHWC, everything else ONNX order).
import { NodeRef } from '../../nn/graph';
import { LoadedModel } from '../types';
import { Context, NodeValue } from './context';
import { Layout, permute, TO_NHWC } from './layout';
import { LINEAR_OPS } from './ops-linear';
import { MATH_OPS } from './ops-math';
import { NN_OPS, OpConverter } from './ops-nn';
import { SHAPE_OPS } from './ops-shape';
import { ModelProto, NodeProto } from './protobuf';
import { ConstTensor, numel, tensorValues } from './tensor-data';

export interface OnnxOptions {
  /**
   * Graph inputs bound to fixed values at load time (ONNX dims and element
   * order); they become weights. For graphs that take their weights as inputs,
   * such as the ONNX node tests.
   */
  fixedInputs?: Record<string, { dims: number[]; data: Float32Array | Float64Array | readonly number[] }>;
  /** How errors name a source given as bytes; default '<bytes>'. */
  label?: string;
}

/** Where an ONNX graph input or output lives in our graph. */
export interface OnnxValueInfo {
  /** The ONNX value name. */
  name: string;
  /** The graph node holding it (feed inputs by this name, tap outputs by it). */
  node: NodeRef;
  /** Shape in ONNX order, -1 where unknown. */
  shape: number[];
  /** 'nhwc': a rank-4 ONNX NCHW value held NHWC; 'plain': ONNX element order. */
  layout: Layout;
}

export interface OnnxModel extends LoadedModel {
  format: 'onnx';
  /** The graph inputs left to feed (initializers and fixed inputs excluded), in ONNX order. */
  inputs: OnnxValueInfo[];
  /** Every graph output, in ONNX order. */
  outputs: OnnxValueInfo[];
  /** The ai.onnx opset the model imports. */
  opset: number;
}

/**
 * Inputs (by position) that each op needs as load-time constants: weights
 * folded into kernels, shapes, pads, scales, bounds, divisors.
 */
export const CONSTANT_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Conv: [1, 2],
  Gemm: [1, 2],
  MatMul: [1],
  BatchNormalization: [1, 2, 3, 4],
  Clip: [1, 2],
  Div: [1],
  PRelu: [1],
  Reshape: [1],
  Squeeze: [1],
  Unsqueeze: [1],
  Pad: [1, 2, 3],
  Resize: [1, 2, 3],
  Upsample: [1],
  Dropout: [1, 2],
  ReduceMean: [1],
  ReduceSum: [1],
  ReduceSumSquare: [1],
};

const CONVERTERS = new Map<string, OpConverter>(
  Object.entries({ ...NN_OPS, ...MATH_OPS, ...LINEAR_OPS, ...SHAPE_OPS }),
);

/** ONNX op types the loader converts (default domain). */
export function supportedOnnxOps(): string[] {
  return [...CONVERTERS.keys()].sort();
}

const NON_NUMERIC: Record<number, string> = { 8: 'string', 14: 'complex64', 15: 'complex128' };

function unsupported(op: string, node: string): Error {
  return new Error(`onnx: op '${op}' (node '${node}') is not supported by eyecandy`);
}

export function convertModel(model: ModelProto, label: string, options: OnnxOptions = {}): OnnxModel {
  const g = model.graph;
  if (!g) throw new Error(`onnx: ${label}: not an ONNX model (it has no graph)`);
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!opset) throw new Error(`onnx: ${label}: the model imports no ai.onnx opset`);
  const cx = new Context(label, opset.version);

  // Initializers are checked now but decoded on first use, and the decoded values dropped after
  // their last reader: the JS copies of all the weights never exist at once beside the native ones.
  const readers = new Map<string, number>();
  for (const n of g.node) for (const i of n.input) if (i) readers.set(i, (readers.get(i) ?? 0) + 1);
  for (const o of g.output) readers.set(o.name, Infinity);
  const drops = new Map<string, () => void>();
  for (const t of g.initializer) {
    const where = `onnx: ${label}: initializer '${t.name}'`;
    tensorValues(t, where, true);
    let decoded: ConstTensor | undefined;
    cx.values.set(t.name, {
      kind: 'const',
      get c(): ConstTensor {
        return (decoded ??= tensorValues(t, where));
      },
    });
    drops.set(t.name, () => (decoded = undefined));
  }

  const fixed = options.fixedInputs ?? {};
  const declared = new Set(g.input.map((v) => v.name));
  for (const k of Object.keys(fixed))
    if (!declared.has(k)) throw new Error(`onnx: ${label}: fixedInputs names '${k}', which is not a graph input`);

  const inputs: OnnxValueInfo[] = [];
  for (const v of g.input) {
    const f = fixed[v.name];
    if (f) {
      if (numel(f.dims) !== f.data.length)
        throw new Error(`onnx: ${label}: fixed input '${v.name}' has ${f.data.length} values but dims [${f.dims.join(',')}]`);
      const data = f.data instanceof Float32Array || f.data instanceof Float64Array ? f.data : Float64Array.from(f.data);
      cx.values.set(v.name, { kind: 'const', c: { dims: f.dims.slice(), data } });
      continue;
    }
    // An input with an initializer is optional: the initializer is its default (IR < 4 lists every weight so).
    if (cx.values.has(v.name)) continue;
    if (!v.shape) throw new Error(`onnx: ${label}: graph input '${v.name}' has no shape; eyecandy needs at least its rank`);
    // Numeric inputs of other types are fed and computed as float32 (exact for 8/16-bit integers);
    // strings and complex numbers have no float32 meaning.
    if (v.elemType !== undefined && NON_NUMERIC[v.elemType])
      throw new Error(`onnx: ${label}: graph input '${v.name}' has element type ${NON_NUMERIC[v.elemType]}; eyecandy networks take numeric inputs`);
    const dims = v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
    const layout: Layout = dims.length === 4 ? 'nhwc' : 'plain';
    const ref = cx.graph.input(cx.unique(v.name), layout === 'nhwc' ? permute(dims, TO_NHWC) : dims);
    cx.values.set(v.name, { kind: 'node', ref, shape: dims, layout });
    inputs.push({ name: v.name, node: ref, shape: dims, layout });
  }
  if (!inputs.length) throw new Error(`onnx: ${label}: the graph has no input left to feed`);

  for (const n of g.node) {
    cx.begin(n);
    const known = !n.domain || n.domain === 'ai.onnx';
    const convert = known ? CONVERTERS.get(n.opType) : undefined;
    if (!convert) throw unsupported(known ? n.opType : `${n.domain}.${n.opType}`, cx.nodeName);
    convert(cx);
    for (const i of n.input) {
      const left = (readers.get(i) ?? 1) - 1;
      readers.set(i, left);
      if (left === 0) drops.get(i)?.();
    }
  }

  const outputs: OnnxValueInfo[] = [];
  for (const o of g.output) {
    const v = cx.values.get(o.name);
    if (!v) throw new Error(`onnx: ${label}: graph output '${o.name}' is not produced by any node`);
    if (v.kind === 'missing') throw new Error(`onnx: ${label}: graph output '${o.name}' cannot be produced: ${v.why}`);
    const synthetic: NodeProto = { name: o.name, opType: 'Output', input: [], output: [], attribute: [], domain: '' };
    cx.begin(synthetic);
    const nv: NodeValue = v.kind === 'const' ? cx.constNode('value', v.c) : v;
    outputs.push({ name: o.name, node: nv.ref, shape: nv.shape, layout: nv.layout });
  }
  if (!outputs.length) throw new Error(`onnx: ${label}: the graph has no outputs`);

  // The main output: the class probabilities when a graph output comes from a Softmax, else the last output.
  const fromSoftmax = outputs.filter((o) => cx.producer.get(o.name)?.opType === 'Softmax');
  const main = fromSoftmax.length ? fromSoftmax[fromSoftmax.length - 1] : outputs[outputs.length - 1];
  let logits: NodeRef | undefined;
  const softmaxNode = cx.producer.get(main.name);
  if (softmaxNode?.opType === 'Softmax') {
    const src = cx.values.get(softmaxNode.input[0]);
    if (src?.kind === 'node') logits = src.ref;
  }
  // compile() and forward() default to the last node added: make it the main output.
  if (cx.graph.last !== main.node) {
    cx.begin({ name: `${main.name}/output`, opType: 'Output', input: [], output: [], attribute: [], domain: '' });
    const alias = cx.graph.reshape(cx.unique(cx.nodeName), main.node, new Array<number>(main.shape.length).fill(0));
    outputs[outputs.indexOf(main)] = { ...main, node: alias };
    main.node = alias;
  }

  return {
    graph: cx.graph,
    input: inputs[0].node,
    inputShape: inputs[0].layout === 'nhwc' ? permute(inputs[0].shape, TO_NHWC) : inputs[0].shape.slice(),
    output: main.node,
    logits,
    layers: cx.layers,
    format: 'onnx',
    inputs,
    outputs,
    opset: opset.version,
  };
}
