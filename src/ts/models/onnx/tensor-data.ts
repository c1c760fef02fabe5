// TensorProto payloads as JS arrays, and the small array manipulations the
// converter does on constant weights (transposes, broadcasts) before they
// become params.
import { TensorProto } from './protobuf';

/** A constant known at load time: initializers, Constant nodes, fixed inputs. Dims in ONNX order. */
export interface ConstTensor {
  dims: number[];
  /** Float types decode to Float32Array; integer, bool and double ones to Float64Array (exact for int32 and shapes). */
  data: Float32Array | Float64Array;
}

// TensorProto.DataType values.
const FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7, STRING = 8, BOOL = 9;
const FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, BFLOAT16 = 16;

const TYPE_NAMES: Record<number, string> = { 8: 'string', 14: 'complex64', 15: 'complex128' };

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bfloatToFloat(b: number): number {
  const v = new DataView(new ArrayBuffer(4));
  v.setUint32(0, (b & 0xffff) << 16);
  return v.getFloat32(0);
}

/** Values of a little-endian raw_data payload; `expect` (default n) is the count its length must hold. */
function fromRaw(raw: Uint8Array, type: number, n: number, fail: (why: string) => never, expect = n): Float32Array | Float64Array {
  const width: Record<number, number> = {
    [FLOAT]: 4, [UINT8]: 1, [INT8]: 1, [UINT16]: 2, [INT16]: 2, [INT32]: 4, [INT64]: 8, [BOOL]: 1,
    [FLOAT16]: 2, [DOUBLE]: 8, [UINT32]: 4, [UINT64]: 8, [BFLOAT16]: 2,
  };
  const w = width[type];
  if (raw.length !== expect * w) fail(`raw_data holds ${raw.length} bytes but ${expect} values of ${w} bytes were expected`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const isFloat = type === FLOAT || type === FLOAT16 || type === BFLOAT16;
  const out = isFloat ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; ++i) {
    const o = i * w;
    switch (type) {
      case FLOAT: out[i] = v.getFloat32(o, true); break;
      case FLOAT16: out[i] = halfToFloat(v.getUint16(o, true)); break;
      case BFLOAT16: out[i] = bfloatToFloat(v.getUint16(o, true)); break;
      case DOUBLE: out[i] = v.getFloat64(o, true); break;
      case UINT8: case BOOL: out[i] = v.getUint8(o); break;
      case INT8: out[i] = v.getInt8(o); break;
      case UINT16: out[i] = v.getUint16(o, true); break;
      case INT16: out[i] = v.getInt16(o, true); break;
      case INT32: out[i] = v.getInt32(o, true); break;
      case UINT32: out[i] = v.getUint32(o, true); break;
      case INT64: out[i] = v.getInt32(o + 4, true) * 4294967296 + v.getUint32(o, true); break;
      case UINT64: out[i] = v.getUint32(o + 4, true) * 4294967296 + v.getUint32(o, true); break;
    }
  }
  return out;
}

/**
 * Decodes a TensorProto's values. `where` names it in errors, e.g.
 * "onnx: model.onnx: initializer 'w'".
 */
export function tensorValues(t: TensorProto, where: string): ConstTensor;
/** With checkOnly: the same checks and errors, without decoding the values. */
export function tensorValues(t: TensorProto, where: string, checkOnly: true): undefined;
export function tensorValues(t: TensorProto, where: string, checkOnly = false): ConstTensor | undefined {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  if (t.dataLocation === 1 || t.hasExternalData)
    fail('its data is stored in an external file, which eyecandy does not read (save the model with the weights inside)');
  if (t.dataType === STRING || t.hasStringData || TYPE_NAMES[t.dataType])
    fail(`tensors of type ${TYPE_NAMES[t.dataType] ?? 'string'} are not supported`);
  const dims = t.dims.slice();
  if (dims.some((d) => d < 0 || !Number.isInteger(d))) fail(`has invalid dims [${dims.join(',')}]`);
  const n = numel(dims);
  if (t.rawData !== undefined) return checkOnly ? (fromRaw(t.rawData, t.dataType, 0, fail, n), undefined) : { dims, data: fromRaw(t.rawData, t.dataType, n, fail) };
  let src: number[];
  let isFloat = false;
  switch (t.dataType) {
    case FLOAT: src = t.floatData; isFloat = true; break;
    case FLOAT16: src = t.int32Data.map(halfToFloat); isFloat = true; break;
    case BFLOAT16: src = t.int32Data.map(bfloatToFloat); isFloat = true; break;
    case DOUBLE: src = t.doubleData; break;
    case INT64: src = t.int64Data; break;
    case UINT32: case UINT64: src = t.uint64Data; break;
    case UINT8: case INT8: case UINT16: case INT16: case INT32: case BOOL: src = t.int32Data; break;
    default: return fail(`data type ${t.dataType} is not supported`);
  }
  if (src.length !== n) fail(`holds ${src.length} values but dims [${dims.join(',')}] need ${n}`);
  if (checkOnly) return undefined;
  return { dims, data: isFloat ? Float32Array.from(src) : Float64Array.from(src) };
}

export function asFloat32(c: ConstTensor): Float32Array {
  return c.data instanceof Float32Array ? c.data : Float32Array.from(c.data);
}

export function asInts(c: ConstTensor): number[] {
  return Array.from(c.data, (v) => Math.trunc(v));
}

/** Row-major strides. */
function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** Output dimension i is input dimension perm[i] (the ONNX Transpose rule). */
export function transposeConst(c: ConstTensor, perm: readonly number[]): ConstTensor {
  const rank = c.dims.length;
  const outDims = perm.map((p) => c.dims[p]);
  const inStrides = strides(c.dims);
  const step = perm.map((p) => inStrides[p]);
  const n = numel(outDims);
  const out = c.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < n; ++i) {
    out[i] = c.data[src];
    // Odometer over the output index, keeping the source offset in step.
    for (let d = rank - 1; d >= 0; --d) {
      if (++idx[d] < outDims[d]) {
        src += step[d];
        break;
      }
      src -= step[d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
  return { dims: outDims, data: out };
}

export function mapConst(c: ConstTensor, f: (v: number) => number): ConstTensor {
  const out = new Float32Array(c.data.length);
  for (let i = 0; i < out.length; ++i) out[i] = f(c.data[i]);
  return { dims: c.dims.slice(), data: out };
}

/** The same values seen with rank `rank`: ones prepended (numpy broadcasting alignment). */
export function padRank(c: ConstTensor, rank: number): ConstTensor {
  if (c.dims.length >= rank) return c;
  return { dims: [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims], data: c.data };
}
