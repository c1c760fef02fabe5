// Whole-tensor vector routines for optimizers and tasks, and the symmetric
// eigen-decomposition used by locate's PCA. Each is one native call; the
// in-place ones overwrite their first tensor (`y` for axpy).
import { addon } from './native';
import { Tensor } from './tensor';
import { checkFinite, checkInteger, invalidParameterError } from './validate';

function live(who: string, ...ts: Tensor[]): void {
  ts.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw invalidParameterError(who, `tensor ${i}`, 'a Tensor', t);
    t.assertLive(who);
  });
}

/** Σ a·b (accumulated in double). */
export function dot(a: Tensor, b: Tensor): number {
  live('dot', a, b);
  return addon().vecDot(a.handle, b.handle);
}

/** y += alpha·x, in place. */
export function axpy(alpha: number, x: Tensor, y: Tensor): void {
  live('axpy', x, y);
  addon().vecAxpy(checkFinite('axpy', 'alpha', alpha), x.handle, y.handle);
}

/** x *= alpha, in place. */
export function scale(x: Tensor, alpha: number): void {
  live('scale', x);
  addon().vecScale(x.handle, checkFinite('scale', 'alpha', alpha));
}

/** Σ|x|. */
export function norm1(x: Tensor): number {
  live('norm1', x);
  return addon().vecNorm1(x.handle);
}

/** sqrt(Σx²). */
export function norm2(x: Tensor): number {
  live('norm2', x);
  return addon().vecNorm2(x.handle);
}

/** Clamps each value into [lo[c], hi[c]] by its channel c (last axis), in place. */
export function clampChannels(x: Tensor, lo: number[], hi: number[]): void {
  live('clamp', x);
  addon().vecClampChannels(x.handle, lo, hi);
}

/** One Adam step of x in place with moment tensors m and v (same shape as x), step t >= 1. */
export function adamStep(x: Tensor, g: Tensor, m: Tensor, v: Tensor, o: { lr: number; beta1: number; beta2: number; epsilon: number; t: number }): void {
  live('adam', x, g, m, v);
  addon().vecAdamStep(x.handle, g.handle, m.handle, v.handle, o.lr, o.beta1, o.beta2, o.epsilon, o.t);
}

/** An NHWC image shifted by (dy, dx) pixels with wrap-around. */
export function roll(x: Tensor, dy: number, dx: number): Tensor {
  live('roll', x);
  return Tensor.wrap(addon().vecRoll(x.handle, checkInteger('roll', 'dy', dy, -1e9, 1e9), checkInteger('roll', 'dx', dx, -1e9, 1e9)));
}

/** Result of `eigh`: eigenvalues and unit eigenvectors of a symmetric matrix. */
export interface Eigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** vectors[k] is the unit eigenvector of values[k] (its largest component positive). */
  vectors: Float64Array[];
}

/** Eigen-decomposition of a symmetric n×n matrix (rows as arrays, or row-major values). */
export function symEig(matrix: number[][] | Float64Array, n?: number): Eigen {
  const size = Array.isArray(matrix) ? matrix.length : checkInteger('eig', 'n', n, 1, 4096);
  const flat = Array.isArray(matrix) ? Float64Array.from(matrix.flat()) : matrix;
  if (flat.length !== size * size) throw new Error(`eig: expected ${size}x${size} = ${size * size} values but received ${flat.length}`);
  const { values, vectors } = addon().symEig(flat, size);
  return { values, vectors: Array.from({ length: size }, (_, k) => vectors.slice(k * size, (k + 1) * size)) };
}
