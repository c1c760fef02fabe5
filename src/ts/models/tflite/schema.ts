// The parts of the TFLite schema (tensorflow/lite/schema/schema.fbs) that
// eyecandy reads, decoded from the flatbuffer into plain objects. Field
// numbers below are the schema's declaration order.
import { FlatBuffer, Table } from './flatbuffer';

/** TensorType. */
export const TENSOR_TYPES = [
  'FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8',
  'FLOAT64', 'COMPLEX128', 'UINT64', 'RESOURCE', 'VARIANT', 'UINT32', 'UINT16', 'INT4',
] as const;

/** BuiltinOperator names by code (for messages; codes past the list print as BUILTIN_<n>). */
export const BUILTIN_OPS = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE',
  'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D',
  'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU',
  'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH',
  'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD',
  'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB',
  'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2',
  'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM', 'ARG_MAX',
  'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE', 'SIN',
  'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT',
  'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT',
  'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL',
  'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS',
  'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU',
  'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE',
  'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM',
  'BATCH_MATMUL',
] as const;

export function builtinName(code: number): string {
  return BUILTIN_OPS[code] ?? `BUILTIN_${code}`;
}

export interface TfliteQuantization {
  /** One scale per tensor, or one per slice along `dimension`. */
  scale: number[];
  zeroPoint: number[];
  dimension: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  /** A TENSOR_TYPES name. */
  type: string;
  /** Index into TfliteModel.buffers (0: the empty buffer, i.e. no constant data). */
  buffer: number;
  quantization?: TfliteQuantization;
}

export interface TfliteOperator {
  index: number;
  /** The builtin op's name (CUSTOM ops: 'CUSTOM:<code>'). */
  op: string;
  inputs: number[];
  outputs: number[];
  /** The builtin options table, read per op by the converter. */
  options?: Table;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModelFile {
  version: number;
  description: string;
  subgraphs: TfliteSubgraph[];
  /** Constant data by buffer index (empty when the buffer holds none). */
  buffers: Uint8Array[];
}

/** Decodes a .tflite file (the flatbuffer; anything appended after it, such as a labels zip, is ignored). */
export function decodeTflite(bytes: Uint8Array, label: string): TfliteModelFile {
  const fb = new FlatBuffer(bytes, label);
  if (fb.identifier() !== 'TFL3') throw new Error(`tflite: ${label} is not a TFLite model (no TFL3 identifier)`);
  const model = fb.root();

  // OperatorCode: deprecated_builtin_code (0, int8), custom_code (1), version (2), builtin_code (3, int32).
  const opNames = model.tables(1).map((oc) => {
    const code = Math.max(oc.i8(0), oc.i32(3));
    const name = builtinName(code);
    return name === 'CUSTOM' ? `CUSTOM:${oc.string(1) ?? ''}` : name;
  });

  // Buffer: data (0), offset (1), size (2) (offset/size: data stored after the flatbuffer, for big models).
  const buffers = model.tables(4).map((b) => {
    const data = b.bytes(0);
    if (data && data.length) return data;
    const offset = b.u64(1);
    const size = b.u64(2);
    if (offset > 1 && size) {
      fb.check(offset, size);
      return bytes.subarray(offset, offset + size);
    }
    return new Uint8Array(0);
  });

  const subgraphs = model.tables(2).map((sg): TfliteSubgraph => {
    // Tensor: shape (0), type (1), buffer (2), name (3), quantization (4).
    const tensors = sg.tables(0).map((t, index): TfliteTensor => {
      const typeCode = t.i8(1);
      const q = t.table(4);
      let quantization: TfliteQuantization | undefined;
      if (q) {
        // QuantizationParameters: min (0), max (1), scale (2), zero_point (3), details (4, 5), quantized_dimension (6).
        const scale = q.f32s(2) ?? [];
        if (scale.length) quantization = { scale, zeroPoint: q.i64s(3) ?? scale.map(() => 0), dimension: q.i32(6) };
      }
      return {
        index,
        name: t.string(3) ?? '',
        shape: t.i32s(0) ?? [],
        type: TENSOR_TYPES[typeCode] ?? `TYPE_${typeCode}`,
        buffer: t.u32(2),
        quantization,
      };
    });
    // Operator: opcode_index (0), inputs (1), outputs (2), builtin_options_type (3), builtin_options (4).
    const operators = sg.tables(3).map((o, index): TfliteOperator => {
      const code = o.u32(0);
      if (code >= opNames.length) throw fb.corrupt(o.pos);
      return { index, op: opNames[code], inputs: o.i32s(1) ?? [], outputs: o.i32s(2) ?? [], options: o.table(4) };
    });
    return { name: sg.string(4) ?? '', tensors, inputs: sg.i32s(1) ?? [], outputs: sg.i32s(2) ?? [], operators };
  });

  return { version: model.u32(0), description: model.string(3) ?? '', subgraphs, buffers };
}
