// The state of one TFLite conversion and what every op converter needs from it:
// tensors by index, the graph node holding each tensor's value, constants read
// as real numbers, unique node names, and emit(), which adds an op with its
// fused activation and quantized-range clip.
import { Graph, NodeRef, Padding } from '../../nn/graph';
import { Tensor } from '../../tensor';
import { Table } from './flatbuffer';
import { TfliteModelFile, TfliteOperator, TfliteSubgraph, TfliteTensor } from './schema';
import { constValues, quantRange, sameRange } from './tensor-data';

const PADDING: Record<number, Padding> = { 0: 'same', 1: 'valid' };

/** Ops whose quantized output range, when equal to their input's, needs no clip (they only move values). */
const PASS_THROUGH = ['RESHAPE', 'SQUEEZE', 'MAX_POOL_2D', 'AVERAGE_POOL_2D'];

export class Context {
  readonly g = new Graph();
  readonly layers: string[] = [];
  /** Graph node holding each tensor's (real) value, by tensor index. */
  readonly nodes = new Map<number, NodeRef>();
  /** The softmax's input, when the model ends in one. */
  logits?: NodeRef;

  constructor(
    readonly file: TfliteModelFile,
    readonly sg: TfliteSubgraph,
    readonly label: string,
  ) {}

  where(op: TfliteOperator): string {
    return `tflite: ${this.label}: operator ${op.index} (${op.op})`;
  }

  tensor(i: number, who: string): TfliteTensor {
    const t = this.sg.tensors[i];
    if (!t) throw new Error(`${who}: tensor index ${i} is out of range (the subgraph has ${this.sg.tensors.length})`);
    return t;
  }

  data(t: TfliteTensor): Uint8Array | undefined {
    const d = this.file.buffers[t.buffer];
    return d && d.length ? d : undefined;
  }

  unique(base: string): string {
    let name = base.slice(0, 240);
    for (let k = 1; this.g.has(name); ++k) name = `${base.slice(0, 240)}_${k}`;
    return name;
  }

  nameOf(t: TfliteTensor): string {
    return this.unique(t.name || `tensor${t.index}`);
  }

  /** An operator's output tensor. */
  output(op: TfliteOperator): TfliteTensor {
    return this.tensor(op.outputs[0], this.where(op));
  }

  /** A constant input's real values (empty when it has no data). */
  values(op: TfliteOperator, pos: number): Float32Array {
    const t = this.tensor(op.inputs[pos], this.where(op));
    return constValues(t, this.data(t) ?? new Uint8Array(), this.where(op));
  }

  /** A constant input as a tensor with its real values. */
  constant(op: TfliteOperator, pos: number, role: string, shape?: number[]): Tensor {
    const t = this.tensor(op.inputs[pos], this.where(op));
    const d = this.data(t);
    if (!d) throw new Error(`${this.where(op)}: the ${role} (input ${pos}, '${t.name}') must be a constant`);
    return Tensor.from(constValues(t, d, this.where(op)), shape ?? t.shape);
  }

  /** The optional bias (input 2) as a tensor, if the operator has one. */
  bias(op: TfliteOperator): Tensor | undefined {
    return this.optional(op, 2) ? this.constant(op, 2, 'bias') : undefined;
  }

  /** The node for an operator's input: an earlier op's output, the graph input, or a constant as a param. */
  input(op: TfliteOperator, pos: number): NodeRef {
    const idx = op.inputs[pos];
    const have = this.nodes.get(idx);
    if (have) return have;
    const t = this.tensor(idx, this.where(op));
    const d = this.data(t);
    if (!d)
      throw new Error(`${this.where(op)}: input ${pos} ('${t.name}') is not produced by the graph input, a constant or an earlier operator`);
    const name = this.g.param(this.nameOf(t), Tensor.from(constValues(t, d, this.where(op)), t.shape));
    this.nodes.set(idx, name);
    return name;
  }

  inShape(op: TfliteOperator, pos = 0): number[] {
    return this.tensor(op.inputs[pos], this.where(op)).shape;
  }

  optional(op: TfliteOperator, pos: number): boolean {
    return op.inputs.length > pos && op.inputs[pos] >= 0;
  }

  /**
   * Adds the main op, its fused activation and, for a quantized output, a clip to the range its
   * 8-bit type can hold (the integer kernels saturate there: old uint8 models such as MobileNet
   * quant express RELU6 only this way). The last node is named after the output tensor.
   */
  emit(op: TfliteOperator, fused: number, build: (name: string) => NodeRef): void {
    const g = this.g;
    const out = this.output(op);
    const name = this.nameOf(out);
    const range = quantRange(out);
    const src = op.inputs.length ? this.sg.tensors[op.inputs[0]] : undefined;
    const clamp = range && !(PASS_THROUGH.includes(op.op) && src && sameRange(range, quantRange(src)));
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
        throw new Error(`${this.where(op)}: fused activation ${fused} is not supported`);
    }
    if (clamp) acts.push((n, x) => g.clip(n, x, { min: range[0], max: range[1] }));
    let node = build(acts.length ? this.unique(`${name}/${op.op.toLowerCase()}`) : name);
    this.layers.push(node);
    acts.forEach((act, k) => {
      const last = k === acts.length - 1;
      node = act(last ? name : this.unique(`${name}/${fused === 3 ? 'relu6' : 'activation'}`), node);
      this.layers.push(node);
    });
    this.nodes.set(op.outputs[0], node);
  }

  padding(op: TfliteOperator, o: Table | undefined): Padding {
    const p = PADDING[o?.i8(0) ?? 0];
    if (!p) throw new Error(`${this.where(op)}: padding ${o?.i8(0)} is not SAME or VALID`);
    return p;
  }

  stride(op: TfliteOperator, o: Table | undefined, hField: number, wField: number): [number, number] {
    const s: [number, number] = [o?.i32(hField) ?? 0, o?.i32(wField) ?? 0];
    if (!(s[0] >= 1 && s[1] >= 1)) throw new Error(`${this.where(op)}: stride [${s.join(', ')}] must be at least 1`);
    return s;
  }
}
