// Adam (Kingma & Ba) over native tensors, with optional per-channel box
// bounds: each step is one native call (linalg.adamStep) followed by a clamp.
import { adamStep } from '../linalg';
import { Tensor } from '../tensor';
import { checkFinite, checkNumber } from '../validate';
import { abortError, Box, checkCommon, nonFiniteError, Objective, OptimizeOptions, OptimizeResult, rms, StopReason } from './lbfgs';

export interface AdamOptions extends OptimizeOptions {
  /**
   * Step size in x's units, > 0: early steps move each element by about this much. Default 2,
   * which suits images in pixel units (0..255, or Caffe-style mean-subtracted pixels); use about
   * 0.01-0.1 for variables of order 1.
   */
  learningRate?: number;
  /** Decay of the first moment, 0..<1. Default 0.9. */
  beta1?: number;
  /** Decay of the second moment, 0..<1. Default 0.999. */
  beta2?: number;
  /** Added to the root of the second moment, > 0. Default 1e-8. */
  epsilon?: number;
}

/**
 * [async] Minimises f from x0 (left unchanged) by Adam. Every iteration evaluates f once
 * (onIteration sees that loss and the point it belongs to), then steps. The result is the
 * best point evaluated, since Adam's last step is not guaranteed to be its best.
 */
export async function adam(f: Objective, x0: Tensor, options: AdamOptions): Promise<OptimizeResult> {
  const who = 'adam';
  const c = checkCommon(who, x0, options);
  const lr = checkNumber(who, 'learningRate', checkFinite(who, 'learningRate', options.learningRate ?? 2), Number.MIN_VALUE);
  const beta1 = checkNumber(who, 'beta1', options.beta1 ?? 0.9, 0, 0.999999);
  const beta2 = checkNumber(who, 'beta2', options.beta2 ?? 0.999, 0, 0.999999);
  const epsilon = checkNumber(who, 'epsilon', checkFinite(who, 'epsilon', options.epsilon ?? 1e-8), Number.MIN_VALUE);
  const box = new Box(c.bounds, x0.shape[x0.shape.length - 1] ?? 1);
  const { signal, onIteration } = options;

  const x = x0.clone();
  box.project(x);
  const m = Tensor.zeros(x.shape, x.device);
  const v = Tensor.zeros(x.shape, x.device);
  let best: Tensor | undefined;
  let bestLoss = Infinity;
  const history: number[] = [];
  let reason: StopReason = 'iterations';
  let iterations = 0;
  try {
    let previous = NaN;
    let gradScale = NaN;
    for (let it = 1; it <= c.maxIterations; ++it) {
      if (signal?.aborted) throw abortError(who, signal);
      const { loss, grad } = await f(x);
      try {
        if (!(grad instanceof Tensor)) throw new Error(`${who}: the objective returned no gradient tensor`);
        if (grad.size !== x.size) throw new Error(`${who}: the gradient has ${grad.size} values but x has ${x.size}`);
        if (!Number.isFinite(loss)) throw nonFiniteError(who, it, `the objective returned loss ${loss}`, bestLoss);
        iterations = it;
        history.push(loss);
        if (loss < bestLoss) {
          best?.dispose();
          best = x.clone();
          bestLoss = loss;
        }
        if (onIteration) await onIteration(it, loss, x);
        const free = box.freeGradient(grad, x);
        const gradRms = rms(free);
        if (!Number.isFinite(gradRms)) {
          free.dispose();
          throw nonFiniteError(who, it, `the gradient is not finite (rms ${gradRms})`, bestLoss);
        }
        if (Number.isNaN(gradScale)) gradScale = gradRms;
        const small = gradRms <= c.gradientTolerance * gradScale;
        free.dispose();
        if (small) {
          reason = 'gradient';
          break;
        }
        if (Math.abs(previous - loss) <= c.lossTolerance * Math.max(Math.abs(previous), Math.abs(loss))) {
          reason = 'loss';
          break;
        }
        previous = loss;
        if (it < c.maxIterations) {
          adamStep(x, grad, m, v, { lr, beta1, beta2, epsilon, t: it });
          box.project(x);
        }
      } finally {
        grad?.dispose?.();
      }
    }
    const out = best!;
    best = undefined;
    return { x: out, loss: bestLoss, iterations, evaluations: iterations, history, reason };
  } finally {
    [x, m, v].forEach((t) => t.dispose());
    best?.dispose();
  }
}
