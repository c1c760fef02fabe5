// The state of one conversion: what each ONNX value has become, node naming,
// and the helpers every op converter uses to read inputs in the layout it
// needs and to publish outputs in the canonical layout (rank 4 -> NHWC).
import { Graph, NodeRef } from '../../nn/graph';
import { Tensor } from '../../tensor';
import { composePerm, isIdentityPerm, Layout, padRankShape, TO_NCHW, TO_NHWC } from './layout';
import { AttributeProto, NodeProto, TensorProto } from './protobuf';
import { asFloat32, asInts, ConstTensor, padRank, tensorValues, transposeConst } from './tensor-data';

/** A value computed by a graph node; `shape` in ONNX order. */
export interface NodeValue {
  kind: 'node';
  ref: NodeRef;
  shape: number[];
  layout: Layout;
}
export interface ConstValue {
  kind: 'const';
  c: ConstTensor;
}
/** An output we cannot produce (a pool's indices, a dropout mask): an error when something reads it. */
export interface MissingValue {
  kind: 'missing';
  why: string;
}
export type Value = NodeValue | ConstValue | MissingValue;

export class Context {
  readonly graph = new Graph();
  readonly values = new Map<string, Value>();
  /** Op nodes named after ONNX nodes, in order. */
  readonly layers: string[] = [];
  /** Which node produced each ONNX value (for the logits lookup). */
  readonly producer = new Map<string, NodeProto>();
  private readonly plainCache = new Map<NodeRef, NodeRef>();
  private current?: NodeProto;
  private currentName = '';

  constructor(
    readonly label: string,
    readonly opset: number,
  ) {}

  /** Starts converting `node`; its graph name is the ONNX name, or its first output's. */
  begin(node: NodeProto): void {
    this.current = node;
    this.currentName = node.name || node.output.find((o) => o) || node.opType;
  }

  get node(): NodeProto {
    if (!this.current) throw new Error('onnx: internal error: no node is being converted');
    return this.current;
  }

  get nodeName(): string {
    return this.currentName;
  }

  /** An error about the current node: "onnx: m.onnx: Conv node 'c1': ...". */
  fail(msg: string): never {
    throw new Error(`onnx: ${this.label}: ${this.node.opType} node '${this.nodeName}': ${msg}`);
  }

  unique(base: string): string {
    const b = base.length > 240 ? base.slice(0, 240) : base;
    if (!this.graph.has(b)) return b;
    for (let i = 2; ; ++i) if (!this.graph.has(`${b}_${i}`)) return `${b}_${i}`;
  }

  /** The name of the node's main op (recorded as a layer). */
  name(): string {
    const n = this.unique(this.nodeName);
    this.layers.push(n);
    return n;
  }

  /** A helper node's name: "<node>/<role>". */
  aux(role: string): string {
    return this.unique(`${this.nodeName}/${role}`);
  }

  // ---- inputs ------------------------------------------------------------

  has(i: number): boolean {
    return i < this.node.input.length && this.node.input[i] !== '';
  }

  value(i: number): Value {
    const name = this.node.input[i];
    if (!this.has(i)) this.fail(`input ${i} is missing`);
    const v = this.values.get(name);
    if (!v) this.fail(`input '${name}' is not produced by any initializer, graph input or earlier node`);
    if (v.kind === 'missing') this.fail(`input '${name}' cannot be used: ${v.why}`);
    return v;
  }

  isConst(i: number): boolean {
    return this.has(i) && this.value(i).kind === 'const';
  }

  /** A constant input (initializer, Constant node, fixed input), or a clear error. */
  constInput(i: number, what: string): ConstTensor {
    const v = this.value(i);
    if (v.kind !== 'const')
      this.fail(`${what} (input ${i}, '${this.node.input[i]}') must be a constant (an initializer or Constant node); eyecandy cannot use a value computed at run time here`);
    return v.c;
  }

  /** An input as a graph node; a constant becomes a param (rank 4 permuted to NHWC). */
  nodeInput(i: number): NodeValue {
    const v = this.value(i);
    if (v.kind === 'node') return v;
    return this.constNode(this.node.input[i] || 'const', (v as ConstValue).c);
  }

  constNode(role: string, c: ConstTensor): NodeValue {
    const nhwc = c.dims.length === 4;
    const data = nhwc ? transposeConst(c, TO_NHWC) : c;
    return { kind: 'node', ref: this.param(role, data), shape: c.dims.slice(), layout: nhwc ? 'nhwc' : 'plain' };
  }

  param(role: string, c: ConstTensor): NodeRef {
    return this.graph.param(this.aux(role), Tensor.from(asFloat32(c), c.dims));
  }

  scalar(role: string, v: number): NodeRef {
    return this.param(role, { dims: [], data: Float32Array.of(v) });
  }

  /** The value in ONNX element order (a transpose to NCHW for NHWC values, made once). */
  plain(v: NodeValue): NodeRef {
    if (v.layout === 'plain') return v.ref;
    let r = this.plainCache.get(v.ref);
    if (!r) {
      r = this.graph.transpose(this.unique(`${v.ref}/nchw`), v.ref, TO_NCHW);
      this.plainCache.set(v.ref, r);
    }
    return r;
  }

  /** The value NHWC (it must have rank 4). */
  nhwc(v: NodeValue): NodeRef {
    if (v.layout === 'nhwc') return v.ref;
    return this.graph.transpose(this.aux('nhwc'), v.ref, TO_NHWC);
  }

  /**
   * An operand of a rank-4 NHWC op that broadcasts against it: ONNX aligns
   * trailing dims, so a lower-rank value is first seen as rank 4 (ones in
   * front), then permuted like the activation.
   */
  nhwcOperand(v: Value, role: string): NodeRef {
    if (v.kind === 'const') return this.param(role, transposeConst(padRank(v.c, 4), TO_NHWC));
    if (v.kind === 'missing') return this.fail(v.why);
    if (v.shape.length === 4) return this.nhwc(v);
    if (v.shape.length > 4) this.fail(`cannot broadcast a rank-${v.shape.length} value against a rank-4 image`);
    const dims = padRankShape(v.shape, 4);
    if (dims.filter((d) => d < 0).length > 1) this.fail(`'${v.ref}' needs a known shape to broadcast against an image`);
    const r4 = this.graph.reshape(this.aux(`${role}/rank4`), v.ref, dims);
    return this.graph.transpose(this.aux(`${role}/nhwc`), r4, TO_NHWC);
  }

  // ---- outputs -----------------------------------------------------------

  /**
   * Publishes output `i`, computed by `ref` in `layout`, with ONNX shape
   * `shape`; a rank-4 result in ONNX order gets a transpose to NHWC.
   */
  define(i: number, ref: NodeRef, shape: number[], layout: Layout): void {
    let v: NodeValue = { kind: 'node', ref, shape, layout };
    if (shape.length === 4 && layout === 'plain')
      v = { ...v, ref: this.graph.transpose(this.aux('nhwc'), ref, TO_NHWC), layout: 'nhwc' };
    if (shape.length !== 4 && layout === 'nhwc')
      this.fail(`internal error: a rank-${shape.length} value cannot be NHWC`);
    this.set(i, v);
  }

  /** Publishes output `i` as a transpose of `v` by the ONNX permutation `perm`, folding layout changes in. */
  defineTranspose(i: number, v: NodeValue, perm: number[], role?: string): void {
    const shape = perm.map((p) => v.shape[p]);
    let p = v.layout === 'nhwc' ? composePerm(TO_NCHW, perm) : perm.slice();
    const outNhwc = shape.length === 4;
    if (outNhwc) p = composePerm(p, TO_NHWC);
    if (isIdentityPerm(p)) {
      this.set(i, { kind: 'node', ref: v.ref, shape, layout: outNhwc ? 'nhwc' : 'plain' });
      return;
    }
    const ref = this.graph.transpose(role ? this.aux(role) : this.name(), v.ref, p);
    this.set(i, { kind: 'node', ref, shape, layout: outNhwc ? 'nhwc' : 'plain' });
  }

  defineConst(i: number, c: ConstTensor): void {
    this.set(i, { kind: 'const', c });
  }

  alias(i: number, v: Value): void {
    this.set(i, v);
  }

  /** Marks an output unusable; reading it later fails with `why`. */
  missing(i: number, why: string): void {
    this.set(i, { kind: 'missing', why });
  }

  private set(i: number, v: Value): void {
    const name = this.node.output[i];
    if (!name) return; // an optional output nobody reads
    this.values.set(name, v);
    this.producer.set(name, this.node);
  }

  // ---- attributes --------------------------------------------------------

  private attr(name: string): AttributeProto | undefined {
    return this.node.attribute.find((a) => a.name === name);
  }

  hasAttr(name: string): boolean {
    return this.attr(name) !== undefined;
  }

  int(name: string, dflt?: number): number {
    const a = this.attr(name);
    if (a?.i !== undefined) return a.i;
    if (a === undefined && dflt !== undefined) return dflt;
    return this.fail(a ? `attribute '${name}' must be an integer` : `attribute '${name}' is required`);
  }

  float(name: string, dflt?: number): number {
    const a = this.attr(name);
    if (a?.f !== undefined) return a.f;
    if (a?.i !== undefined) return a.i;
    if (a === undefined && dflt !== undefined) return dflt;
    return this.fail(a ? `attribute '${name}' must be a float` : `attribute '${name}' is required`);
  }

  ints(name: string, dflt?: number[]): number[] {
    const a = this.attr(name);
    if (a) return a.ints.slice();
    if (dflt !== undefined) return dflt;
    return this.fail(`attribute '${name}' is required`);
  }

  floats(name: string): number[] | undefined {
    return this.attr(name)?.floats.slice();
  }

  string(name: string, dflt: string): string {
    const a = this.attr(name);
    if (!a) return dflt;
    if (!a.s) this.fail(`attribute '${name}' must be a string`);
    return new TextDecoder().decode(a.s);
  }

  tensorAttr(name: string): ConstTensor | undefined {
    const t: TensorProto | undefined = this.attr(name)?.t;
    return t ? tensorValues(t, `onnx: ${this.label}: ${this.node.opType} node '${this.nodeName}' attribute '${name}'`) : undefined;
  }

  /** Integer values of a constant input (shapes, pads, axes). */
  intsInput(i: number, what: string): number[] {
    return asInts(this.constInput(i, what));
  }
}
