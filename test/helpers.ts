// Shared test helpers: seeded random data and finite-difference gradients
// through the public API.
/** Mulberry32: small, seeded, reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export type Gen = 'normal' | 'distinct' | 'away_from_kinks' | 'positive';

/** Random values for tests; 'distinct' avoids ties (max pools), 'away_from_kinks' keeps |x| and |x-6| > 0.1. */
export function randomData(shape: number[], seed: number, gen: Gen = 'normal'): Float32Array {
  const r = rng(seed);
  const n = size(shape);
  const out = new Float32Array(n);
  if (gen === 'distinct') {
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; --i) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let i = 0; i < n; ++i) out[i] = (perm[i] - n / 2) * (0.2 / Math.max(1, n / 20));
    return out;
  }
  for (let i = 0; i < n; ++i) {
    let v = r() * 2 - 1;
    if (gen === 'positive') v = 0.5 + r();
    if (gen === 'away_from_kinks') v = (v < 0 ? -1 : 1) * (0.15 + Math.abs(v));
    out[i] = v;
  }
  return out;
}

/** Σ out·R for a fixed R: a scalar objective whose gradient at `out` is R. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += a[i] * b[i];
  return s;
}

/**
 * Compares `analytic` (the gradient of a scalar objective) with central
 * differences of `objective` at up to `samples` elements of `base`. Returns the
 * worst error relative to the largest analytic component.
 */
export async function numericCheck(
  objective: (data: Float32Array) => Promise<number>,
  base: Float32Array,
  analytic: Float32Array,
  eps: number,
  samples = 12,
): Promise<{ worst: number; detail: string }> {
  const n = base.length;
  const r = rng(n * 7 + 1);
  const idx =
    n <= samples ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: samples }, () => Math.floor(r() * n));
  let maxAbs = 1e-3;
  for (const v of analytic) maxAbs = Math.max(maxAbs, Math.abs(v));
  let worst = 0;
  let detail = '';
  for (const i of idx) {
    const plus = Float32Array.from(base);
    const minus = Float32Array.from(base);
    plus[i] += eps;
    minus[i] -= eps;
    const numeric = ((await objective(plus)) - (await objective(minus))) / (2 * eps);
    const err = Math.abs(numeric - analytic[i]) / maxAbs;
    if (err > worst || !Number.isFinite(err)) {
      worst = Number.isFinite(err) ? err : Infinity;
      detail = `[${i}]: analytic ${analytic[i]} numeric ${numeric}`;
    }
  }
  return { worst, detail };
}
