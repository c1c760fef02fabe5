// TFLite constant tensors as real numbers: quantized values dequantized, and
// the range an 8-bit quantized tensor can hold.
import { TfliteTensor } from './schema';

const ELEMENT_SIZE: Record<string, number> = { FLOAT32: 4, INT32: 4, UINT8: 1, INT8: 1, INT16: 2, INT64: 8 };

/** A constant tensor's values as real numbers (quantized ones dequantized). */
export function constValues(t: TfliteTensor, data: Uint8Array, who: string): Float32Array {
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

/** The real values an 8-bit quantized tensor can hold, [lo, hi]; undefined for other tensors. */
export function quantRange(t: TfliteTensor): [number, number] | undefined {
  const q = t.quantization;
  if (!q || q.scale.length !== 1 || (t.type !== 'UINT8' && t.type !== 'INT8')) return undefined;
  const [lo, hi] = t.type === 'UINT8' ? [0, 255] : [-128, 127];
  const zp = q.zeroPoint[0] ?? 0;
  return [(lo - zp) * q.scale[0], (hi - zp) * q.scale[0]];
}

export function sameRange(a: [number, number] | undefined, b: [number, number] | undefined): boolean {
  return !!a && !!b && a[0] === b[0] && a[1] === b[1];
}
