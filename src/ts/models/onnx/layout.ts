// Layout and shape arithmetic shared by the op converters.
//
// ONNX images are NCHW; ours are NHWC. Every rank-4 value the converter makes
// is kept NHWC ('nhwc' layout); every other rank is kept in ONNX element order
// ('plain'). Shapes are always tracked in ONNX order, -1 where unknown.

export type Layout = 'nhwc' | 'plain';

/** NCHW -> NHWC (output dim i = input dim perm[i]). */
export const TO_NHWC = [0, 2, 3, 1];
/** NHWC -> NCHW. */
export const TO_NCHW = [0, 3, 1, 2];

/** Where ONNX axis `a` (0..3, NCHW) lives in the NHWC tensor. */
export function nhwcAxis(a: number): number {
  return [0, 3, 1, 2][a];
}

/** transpose(transpose(x, first), second) as one permutation. */
export function composePerm(first: readonly number[], second: readonly number[]): number[] {
  return second.map((p) => first[p]);
}

export function isIdentityPerm(p: readonly number[]): boolean {
  return p.every((v, i) => v === i);
}

export function permute<T>(xs: readonly T[], perm: readonly number[]): T[] {
  return perm.map((p) => xs[p]);
}

/** Normalizes a possibly negative axis, or returns undefined when it is out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

export function knownProduct(dims: readonly number[]): number {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}

/** The numpy broadcast of two ONNX shapes (-1 unknown), or undefined when they clash. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; ++i) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (da === db) out.push(da);
    else if (da < 0 || db < 0) out.push(Math.max(da, db));
    else return undefined;
  }
  return out;
}

/** How a conv or pool derives its padding. */
export type PadSpec = 'valid' | 'same' | 'same_lower' | [number, number, number, number];

/**
 * Output size of one spatial dimension; mirrors resolve_window in
 * native/core/ops.cc, including the ONNX/PyTorch ceil-mode rule.
 */
export function windowOut(
  size: number,
  k: number,
  s: number,
  d: number,
  pad: PadSpec,
  dim: 0 | 1,
  ceil: boolean,
): number {
  if (size < 0) return -1;
  const span = d * (k - 1) + 1;
  let lo = 0;
  let hi = 0;
  if (pad === 'same' || pad === 'same_lower') {
    const o = Math.ceil(size / s);
    const total = Math.max(0, (o - 1) * s + span - size);
    const small = Math.floor(total / 2);
    [lo, hi] = pad === 'same' ? [small, total - small] : [total - small, small];
  } else if (Array.isArray(pad)) {
    [lo, hi] = [pad[dim], pad[dim + 2]];
  }
  const room = size + lo + hi - span;
  if (room < 0) return -1; // the native op reports the misfit with its own message
  let out = ceil ? Math.ceil(room / s) + 1 : Math.floor(room / s) + 1;
  if (ceil && (out - 1) * s >= size + lo) --out;
  return out;
}

/**
 * A reshape target for a value whose ONNX shape is `dims`: known sizes
 * written out, one unknown as -1. Undefined when two or more are unknown.
 */
export function reshapeTarget(dims: readonly number[]): number[] | undefined {
  return dims.filter((d) => d < 0).length > 1 ? undefined : dims.slice();
}

/** A shape seen with rank `rank`: ones prepended (numpy broadcasting alignment). */
export function padRankShape(dims: readonly number[], rank: number): number[] {
  return [...new Array<number>(Math.max(0, rank - dims.length)).fill(1), ...dims];
}
