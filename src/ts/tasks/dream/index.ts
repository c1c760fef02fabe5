// dream: Deep Dream. Gradient ascent on the image so that chosen layers (or
// channels, or a class) respond more strongly, at several scales (octaves)
// from the smallest up, carrying the detail added at each scale to the next,
// with a random roll (jitter) each step and the pixels kept in range. Large
// images are processed tile by tile (see gradient.ts), so memory is
// bounded by the tile size, not the image size.
import { Image, resizeImage } from '../../image/io';
import { axpy, clampChannels, norm1, roll } from '../../linalg';
import { imageToInput, inputRange } from '../../models/preprocess';
import { Preprocess } from '../../models/types';
import { Graph } from '../../nn/graph';
import { Tensor, tidy } from '../../tensor';
import { evaluate, Evaluation, ObjectiveContext } from './gradient';
import { checkDreamOptions, CheckedOptions, DreamOptions, DreamProgress } from './options';
import { prepareDream, resolveObjective } from './setup';
import { inputToImage, readSource, throwIfAborted } from '../runtime';
import { mulberry32 } from '../../random';

export type { DreamOptions, DreamProgress };

/** What `dream` returns. */
export interface DreamResult {
  /** The dreamed image, the size of the input. */
  image: Image;
  /**
   * The L2 norm of the chosen layers' activations (all of them together: sqrt(Σ A²)) on the input
   * and on the result, both at the input's size; for a class objective alone, the class logit
   * (mean over the windows).
   */
  objective: { initial: number; final: number };
  /** Wall time of the call, model loading included. */
  seconds: number;
  /** Forward passes run (tiles and class windows, measuring included). */
  tiles: number;
  /** [height, width] of each octave run, smallest first. */
  octaveSizes: [number, number][];
  /** The layers the objective used. */
  layers: string[];
}

export interface AscentOptions {
  steps: number;
  /** In network input units. */
  stepSize: number;
  jitter: number;
  random: () => number;
  range: { lo: number[]; hi: number[] };
  onStep?: (step: number, objective: number) => void;
  signal?: AbortSignal;
}

/** The value reported as "the objective". */
export function objectiveValue(ctx: ObjectiveContext, e: Evaluation): number {
  return ctx.terms.length ? Math.sqrt(e.sumSquares) : e.classLogit ?? 0;
}

/**
 * Normalised gradient ascent on x in place for one octave: each step rolls x by a random
 * (dy, dx), takes the gradient there, rolls it back, moves stepSize per mean |g| and clamps
 * x into the range of valid pixels. Resolves to the forward passes run.
 */
export async function ascend(ctx: ObjectiveContext, x: Tensor, o: AscentOptions): Promise<number> {
  let tiles = 0;
  for (let step = 1; step <= o.steps; ++step) {
    throwIfAborted(o.signal);
    const dy = o.jitter ? Math.floor(o.random() * (2 * o.jitter + 1)) - o.jitter : 0;
    const dx = o.jitter ? Math.floor(o.random() * (2 * o.jitter + 1)) - o.jitter : 0;
    const objective = await tidy(async () => {
      const shifted = dy || dx ? roll(x, dy, dx) : x;
      const e = await evaluate(ctx, shifted, true);
      tiles += e.tiles;
      const g = dy || dx ? roll(e.grad!, -dy, -dx) : e.grad!;
      // Normalising by the mean |g| makes the step size mean the same at every layer and scale.
      const meanAbs = norm1(g) / g.size;
      const value = objectiveValue(ctx, e);
      // A non-finite objective or gradient (overflowing activations, NaN weights let through)
      // would turn the image to garbage: stop, with the reason, before the step.
      if (!Number.isFinite(value) || !Number.isFinite(meanAbs))
        throw new Error(
          `dream: stopped at step ${step} of ${o.steps}: the ${Number.isFinite(value) ? 'gradient' : 'objective'} is not finite ` +
            `(objective ${value}, mean |gradient| ${meanAbs}); no image was made`,
        );
      if (meanAbs > 0) axpy(o.stepSize / meanAbs, g, x);
      clampChannels(x, o.range.lo, o.range.hi);
      return value;
    });
    o.onStep?.(step, objective);
  }
  return tiles;
}

async function resizeTensor(x: Tensor, height: number, width: number): Promise<Tensor> {
  const g = new Graph();
  g.resizeBilinear('resized', g.input('x', [1, -1, -1, 3]), { height, width });
  const net = g.compile({ backend: 'cpu' });
  try {
    return (await net.forward(x))['resized'];
  } finally {
    net.dispose();
  }
}

/** Octave sizes, smallest first, leaving out those smaller than minSide (the full size is always kept). */
function octaveSizes(height: number, width: number, o: CheckedOptions, minSide: number): [number, number][] {
  const sizes: [number, number][] = [];
  for (let i = o.octaves - 1; i >= 1; --i) {
    const f = o.octaveScale ** i;
    const h = Math.round(height / f);
    const w = Math.round(width / f);
    if (Math.min(h, w) >= minSide) sizes.push([h, w]);
  }
  sizes.push([height, width]);
  return sizes;
}

interface Run {
  ctx: ObjectiveContext;
  o: CheckedOptions;
  img: Image;
  pre: Preprocess;
  sizes: [number, number][];
}

/** The octaves, smallest first; resolves to the result image and the forward passes run. */
async function dreamOctaves({ ctx, o, img, pre, sizes }: Run, original: Tensor): Promise<{ image: Image; tiles: number }> {
  const range = inputRange(pre);
  // stepSize is in pixel levels; the network's units may be scaled (e.g. [-1, 1]).
  const unit = range.hi.reduce((s, hi, c) => s + (hi - range.lo[c]) / 255, 0) / range.hi.length;
  const random = mulberry32(o.seed);
  let tiles = 0;
  let x: Tensor | undefined;
  let prevBase: Tensor | undefined;
  for (const [index, [h, w]] of sizes.entries()) {
    const last = index === sizes.length - 1;
    const base = last ? original : imageToInput(await resizeImage(img, { width: w, height: h, mode: 'squash' }), pre);
    if (!x || !prevBase) {
      x = base.clone();
    } else {
      // The detail this octave inherits: what the smaller octaves added to their base, enlarged.
      axpy(-1, prevBase, x);
      const detail = await resizeTensor(x, h, w);
      x.dispose();
      prevBase.dispose();
      axpy(1, base, detail);
      x = detail;
    }
    clampChannels(x, range.lo, range.hi);
    const current = x;
    tiles += await ascend(ctx, current, {
      steps: o.steps,
      stepSize: o.stepSize * unit,
      jitter: o.jitter,
      random,
      range,
      signal: o.signal,
      onStep: (step, objective) =>
        o.onProgress?.({
          octave: index + 1,
          octaves: sizes.length,
          step,
          steps: o.steps,
          objective,
          width: w,
          height: h,
          image: o.progressImages ? inputToImage(current, pre) : undefined,
        }),
    });
    prevBase = base;
  }
  return { image: inputToImage(x!, pre), tiles };
}

/** Deep Dream on one image (a path, encoded bytes, or decoded pixels). */
export async function dream(image: string | Uint8Array | Image, options: DreamOptions = {}): Promise<DreamResult> {
  const started = Date.now();
  const o = checkDreamOptions(options);
  const img = await readSource(image);
  throwIfAborted(o.signal);
  const prepared = await prepareDream(o);
  const { ctx, minSide, layers, dispose } = resolveObjective(prepared, o, img);
  const pre = prepared.model.preprocess;
  const run: Run = { ctx, o, img, pre, sizes: octaveSizes(img.height, img.width, o, minSide) };
  try {
    return await tidy(async () => {
      const before = await evaluate(ctx, imageToInput(img, pre), false);
      // Each layer weighs 1/(its Σ A² on the input), so every layer's relative gain counts alike,
      // whatever its typical magnitude (VGG block4 activations are ~35x block5's in mean square).
      if (ctx.terms.length > 1) ctx.weights = before.layerSums.map((v) => 1 / Math.max(v, 1e-12));
      const { image: result, tiles } = await dreamOctaves(run, imageToInput(img, pre));
      // Measured on the image as returned (8-bit), at the input's size, like the initial value.
      const after = await evaluate(ctx, imageToInput(result, pre), false);
      return {
        image: result,
        objective: { initial: objectiveValue(ctx, before), final: objectiveValue(ctx, after) },
        seconds: (Date.now() - started) / 1000,
        tiles: before.tiles + tiles + after.tiles,
        octaveSizes: run.sizes,
        layers,
      };
    });
  } finally {
    dispose();
  }
}
