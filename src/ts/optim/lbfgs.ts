// Limited-memory BFGS over native tensors, with optional per-channel box
// bounds (a projected variant: every trial point is clamped into the box).
// Every vector operation is one native call (linalg.ts); nothing here loops
// over elements in JS, so the cost per iteration is the objective's.
//
// Note [Bounds]: with bounds, variables sitting on a bound whose gradient
// points out of the box are "active": their gradient component is dropped
// before the two-loop recursion and their direction component is zeroed, so
// the quasi-Newton step moves only the free variables. The masks are built
// from clampChannels alone (relu(v) = clamp(v, 0, ∞), min(a, b) = a - relu(a - b)),
// see freeGradient(). The Armijo test measures the decrease along the
// projected step actually taken, which keeps the search a descent method.
import { axpy, clampChannels, dot, norm2, scale } from '../linalg';
import { Tensor } from '../tensor';
import { checkFinite, checkInteger, checkNumber, invalidParameterError } from '../validate';

/** A differentiable scalar function. The optimizer owns (and disposes) the returned grad; x is only lent. */
export type Objective = (x: Tensor) => Promise<{ loss: number; grad: Tensor }>;

/** Per-channel box: lo[c] <= x[..., c] <= hi[c] for every c of the last axis. */
export interface Bounds {
  lo: number[];
  hi: number[];
}

export interface OptimizeOptions {
  /** Iterations (accepted steps), integer 1..1,000,000. Required. */
  maxIterations: number;
  /** Box bounds per channel (last axis); the iterate never leaves them. Default: unbounded. */
  bounds?: Bounds;
  /** Called after each iteration with its number (from 1), loss, and iterate (lent: copy it to keep it). Awaited. */
  onIteration?: (iteration: number, loss: number, x: Tensor) => void | Promise<void>;
  /** Checked before every evaluation; once aborted the optimizer rejects with an AbortError. Default none. */
  signal?: AbortSignal;
  /** Stop when the loss changes by at most this fraction of its size in one iteration, >= 0. Default 1e-9. */
  lossTolerance?: number;
  /**
   * Stop when the RMS of the gradient over free variables falls to this fraction of its value at
   * x0, >= 0 (relative, so that it does not depend on how the loss is scaled). Default 1e-6.
   */
  gradientTolerance?: number;
}

export interface LbfgsOptions extends OptimizeOptions {
  /** Curvature pairs kept, integer 1..100. Default 10. */
  history?: number;
  /**
   * RMS size (in x's units) of the first step and of a step after a reset, > 0: later steps
   * take their scale from the curvature pairs. Default: 1% of the mean box width when every
   * bound is finite, else 1% of max(1, RMS of x0).
   */
  initialStep?: number;
  /** Objective evaluations in all, integer >= 1. Default 2·maxIterations + 20. */
  maxEvaluations?: number;
}

export type StopReason = 'iterations' | 'evaluations' | 'loss' | 'gradient' | 'lineSearch';

export interface OptimizeResult {
  /** The solution (owned by the caller). */
  x: Tensor;
  /** Its loss. */
  loss: number;
  iterations: number;
  evaluations: number;
  /** Loss before the first step, then after every iteration (iterations + 1 values). */
  history: number[];
  /** Why the optimizer stopped. */
  reason: StopReason;
}

export interface CheckedCommon {
  maxIterations: number;
  bounds?: Bounds;
  lossTolerance: number;
  gradientTolerance: number;
}

/** Validates the options shared by every optimizer. */
/**
 * The error an optimizer stops with when the loss or the gradient is not finite (NaN, ±Infinity):
 * it names the iteration and the best finite loss so far, and no result is returned, so no
 * garbage image is written from it.
 */
export function nonFiniteError(who: string, iteration: number, what: string, finite: number | number[]): Error {
  const best = Array.isArray(finite) ? Math.min(Infinity, ...finite.filter(Number.isFinite)) : finite;
  const before = Number.isFinite(best) ? `best finite loss ${best}` : 'no finite loss before it';
  return new Error(`${who}: stopped at iteration ${iteration}: ${what}; ${before}`);
}

export function checkCommon(who: string, x0: unknown, o: OptimizeOptions): CheckedCommon {
  if (!(x0 instanceof Tensor)) throw invalidParameterError(who, 'x0', 'a Tensor', x0);
  x0.assertLive(who);
  if (!o || typeof o !== 'object') throw invalidParameterError(who, 'options', 'an object', o);
  const maxIterations = checkInteger(who, 'maxIterations', o.maxIterations, 1, 1_000_000);
  if (o.onIteration !== undefined && typeof o.onIteration !== 'function')
    throw invalidParameterError(who, 'onIteration', 'a function', o.onIteration);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw invalidParameterError(who, 'signal', 'an AbortSignal', o.signal);
  let bounds: Bounds | undefined;
  if (o.bounds !== undefined) {
    const b = o.bounds;
    const c = x0.shape[x0.shape.length - 1] ?? 1;
    for (const side of ['lo', 'hi'] as const) {
      const v = b?.[side];
      if (!Array.isArray(v) || v.length !== c) throw invalidParameterError(who, `bounds.${side}`, `array of ${c} numbers`, v);
      v.forEach((n, i) => checkNumber(who, `bounds.${side}[${i}]`, n));
    }
    b.hi.forEach((h, i) => checkNumber(who, `bounds.hi[${i}]`, h, b.lo[i]));
    bounds = { lo: [...b.lo], hi: [...b.hi] };
  }
  return {
    maxIterations,
    bounds,
    lossTolerance: checkNumber(who, 'lossTolerance', o.lossTolerance ?? 1e-9, 0),
    gradientTolerance: checkNumber(who, 'gradientTolerance', o.gradientTolerance ?? 1e-6, 0),
  };
}

/** The error an aborted optimizer rejects with (name 'AbortError', the signal's reason as cause). */
export function abortError(who: string, signal: AbortSignal): Error {
  const e = new Error(`${who}: aborted`, { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

/** Box helpers: projection and the free-variable mask (see Note [Bounds]). */
export class Box {
  private readonly zeros: number[];
  private readonly inf: number[];

  constructor(
    readonly bounds: Bounds | undefined,
    channels: number,
  ) {
    this.zeros = new Array<number>(channels).fill(0);
    this.inf = new Array<number>(channels).fill(Infinity);
  }

  /** Clamps x into the box, in place. */
  project(x: Tensor): void {
    if (this.bounds) clampChannels(x, this.bounds.lo, this.bounds.hi);
  }

  private relu(v: Tensor): void {
    clampChannels(v, this.zeros, this.inf);
  }

  /** min(a, b) into a, in place (b is consumed as scratch). */
  private minInto(a: Tensor, b: Tensor): void {
    axpy(-1, a, b); // b - a
    scale(b, -1); // a - b
    this.relu(b);
    axpy(-1, b, a);
  }

  /**
   * A new tensor: g with the components zeroed that, stepping along -g, would push a
   * variable sitting on a bound out of the box. Without bounds, a copy of g.
   */
  freeGradient(g: Tensor, x: Tensor): Tensor {
    if (!this.bounds) return g.clone();
    // Gap to each bound, scaled so that any positive gap exceeds any gradient:
    // min(relu(g), K·gapLo) is relu(g) off the bound and 0 on it.
    const K = 1e30;
    const up = g.clone();
    this.relu(up);
    const gapLo = x.clone();
    const lo = x.clone();
    clampChannels(lo, this.bounds.lo, this.bounds.lo);
    axpy(-1, lo, gapLo);
    scale(gapLo, K);
    this.minInto(up, gapLo);
    const down = g.clone();
    scale(down, -1);
    this.relu(down);
    const gapHi = lo; // reuse: becomes hi - x
    clampChannels(gapHi, this.bounds.hi, this.bounds.hi);
    axpy(-1, x, gapHi);
    scale(gapHi, K);
    this.minInto(down, gapHi);
    axpy(-1, down, up);
    [gapLo, gapHi, down].forEach((t) => t.dispose());
    return up;
  }
}

export function rms(t: Tensor): number {
  return norm2(t) / Math.sqrt(Math.max(1, t.size));
}

interface Pair {
  s: Tensor;
  y: Tensor;
  rho: number;
}

/** H·g by the two-loop recursion over the stored pairs, H0 = gamma·I. */
function inverseHessianTimes(g: Tensor, pairs: Pair[], gamma: number): Tensor {
  const q = g.clone();
  const alpha: number[] = [];
  for (let i = pairs.length - 1; i >= 0; --i) {
    alpha[i] = pairs[i].rho * dot(pairs[i].s, q);
    axpy(-alpha[i], pairs[i].y, q);
  }
  scale(q, gamma);
  for (let i = 0; i < pairs.length; ++i) {
    const beta = pairs[i].rho * dot(pairs[i].y, q);
    axpy(alpha[i] - beta, pairs[i].s, q);
  }
  return q;
}

/** Armijo sufficient-decrease constant and the most backtracking steps per search. */
const C1 = 1e-4;
const MAX_BACKTRACKS = 20;

/** [async] Minimises f from x0 (which is left unchanged) by projected L-BFGS with backtracking. */
export async function lbfgs(f: Objective, x0: Tensor, options: LbfgsOptions): Promise<OptimizeResult> {
  const who = 'lbfgs';
  const c = checkCommon(who, x0, options);
  const m = checkInteger(who, 'history', options.history ?? 10, 1, 100);
  const maxEvaluations = checkInteger(who, 'maxEvaluations', options.maxEvaluations ?? 2 * c.maxIterations + 20, 1, 1e9);
  if (options.initialStep !== undefined)
    checkNumber(who, 'initialStep', checkFinite(who, 'initialStep', options.initialStep), Number.MIN_VALUE);
  const box = new Box(c.bounds, x0.shape[x0.shape.length - 1] ?? 1);
  const { signal, onIteration } = options;

  // Every tensor made here is in `live` until disposed, so an error or abort frees them all.
  const live = new Set<Tensor>();
  const own = (t: Tensor): Tensor => (live.add(t), t);
  const drop = (...ts: Tensor[]): void => ts.forEach((t) => (live.delete(t), t.dispose()));
  let evaluations = 0;
  const evaluate = async (at: Tensor): Promise<{ loss: number; grad: Tensor }> => {
    if (signal?.aborted) throw abortError(who, signal);
    evaluations++;
    const r = await f(at);
    if (!(r?.grad instanceof Tensor)) throw new Error(`${who}: the objective returned no gradient tensor`);
    own(r.grad);
    if (r.grad.size !== at.size) throw new Error(`${who}: the gradient has ${r.grad.size} values but x has ${at.size}`);
    return r;
  };

  try {
    let x = own(x0.clone());
    box.project(x);
    const width = c.bounds ? c.bounds.hi.reduce((a, h, i) => a + h - c.bounds!.lo[i], 0) / c.bounds.hi.length : Infinity;
    const initialStep = options.initialStep ?? 0.01 * (Number.isFinite(width) ? width : Math.max(1, rms(x)));
    const pairs: Pair[] = [];
    let gamma = 1;
    let { loss, grad: g } = await evaluate(x);
    const history = [loss];
    let iterations = 0;
    let reason: StopReason = 'iterations';
    let gradScale = NaN;
    while (true) {
      if (!Number.isFinite(loss)) throw nonFiniteError(who, iterations, `the objective returned loss ${loss}`, history);
      const free = own(box.freeGradient(g, x));
      const gradRms = rms(free);
      if (!Number.isFinite(gradRms)) throw nonFiniteError(who, iterations, `the gradient is not finite (rms ${gradRms})`, history);
      if (Number.isNaN(gradScale)) gradScale = gradRms;
      if (gradRms <= c.gradientTolerance * gradScale) {
        reason = 'gradient';
        break;
      }
      if (iterations >= c.maxIterations) break;
      // The quasi-Newton direction first; if it is no descent direction or its search fails,
      // forget the pairs and search along the steepest free direction.
      let accepted: { x: Tensor; loss: number; grad: Tensor } | undefined;
      let outOfEvaluations = false;
      for (const steepest of pairs.length ? [false, true] : [true]) {
        const hg = own(steepest ? free.clone() : inverseHessianTimes(free, pairs, gamma));
        // d = -H·g without the components that would leave the box (clamping would drop them anyway).
        const d = own(box.freeGradient(hg, x));
        drop(hg);
        scale(d, -1);
        const slope = dot(g, d);
        let t = steepest ? initialStep / Math.max(rms(d), 1e-30) : 1;
        for (let k = 0; slope < 0 && k <= MAX_BACKTRACKS; ++k) {
          if (evaluations >= maxEvaluations) {
            outOfEvaluations = true;
            break;
          }
          const xt = own(x.clone());
          axpy(t, d, xt);
          box.project(xt);
          const step = own(xt.clone());
          axpy(-1, x, step);
          const decrease = dot(g, step);
          drop(step);
          if (!(decrease < 0)) {
            drop(xt);
            break; // the projected step vanished: nothing left to gain along d
          }
          const r = await evaluate(xt);
          if (Number.isFinite(r.loss) && r.loss <= loss + C1 * decrease) {
            accepted = { x: xt, loss: r.loss, grad: r.grad };
            break;
          }
          drop(xt, r.grad);
          // Minimiser of the quadratic through f(0), f'(0) and f(t), kept within [0.1t, 0.5t].
          const q = Number.isFinite(r.loss) ? (-slope * t * t) / (2 * (r.loss - loss - slope * t)) : 0.1 * t;
          t = Math.min(0.5 * t, Math.max(0.1 * t, q));
        }
        drop(d);
        if (accepted || outOfEvaluations) break;
        if (!steepest) pairs.splice(0).forEach((p) => drop(p.s, p.y));
      }
      drop(free);
      if (!accepted) {
        reason = outOfEvaluations ? 'evaluations' : 'lineSearch';
        break;
      }
      // Curvature pair from the step actually taken; skipped when it would not keep H positive definite.
      const s = own(accepted.x.clone());
      axpy(-1, x, s);
      const y = own(accepted.grad.clone());
      axpy(-1, g, y);
      const sy = dot(s, y);
      const yy = dot(y, y);
      if (sy > 1e-10 * yy && yy > 0) {
        pairs.push({ s, y, rho: 1 / sy });
        gamma = sy / yy;
        if (pairs.length > m) {
          const old = pairs.shift()!;
          drop(old.s, old.y);
        }
      } else {
        drop(s, y);
      }
      const previous = loss;
      drop(x, g);
      ({ x, loss, grad: g } = accepted);
      iterations++;
      history.push(loss);
      if (onIteration) await onIteration(iterations, loss, x);
      if (Math.abs(previous - loss) <= c.lossTolerance * Math.max(Math.abs(previous), Math.abs(loss))) {
        reason = 'loss';
        break;
      }
    }
    live.delete(x);
    return { x, loss, iterations, evaluations, history, reason };
  } finally {
    live.forEach((t) => t.dispose());
  }
}
