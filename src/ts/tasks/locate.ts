// locate: several objects in one image, found by principal masks.
//
// The top-K classes each back-propagate to a saliency mask; PCA of those masks
// finds the few ways in which they differ. A principal mask is a contrast (say,
// "dog classes look here, cat classes look there"), so each of its signs is a
// region of its own, and the image seen through that region is classified again:
// the "eigen-dog" and the "eigen-cat".
import { Image, readImage, resizeImage } from '../image/io';
import { axpy, dot, norm1, scale, symEig } from '../linalg';
import { toFullyConvolutional, poolClassMap, softmax } from '../models/fcn';
import { loadModel, LoadModelOptions, Model } from '../models/load';
import { imageToInput } from '../models/preprocess';
import { Graph } from '../nn/graph';
import { Network } from '../nn/network';
import { Tensor, tidy } from '../tensor';
import { checkInteger, checkNumber, checkOneOf, invalidParameterError } from '../validate';
import { Classification } from './classify';

export type LocateStep = 'classify' | 'gradients' | 'pca' | 'masks';

export interface LocateOptions extends LoadModelOptions {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /** Classes whose masks enter the PCA, integer 1..100 (at most the model's class count). Default 20. */
  topK?: number;
  /** Principal masks to keep, integer 1..10 (at most topK − 1: centring removes one dimension). Default 4. */
  components?: number;
  /** Labels per principal mask side, integer 1..100. Default 5. */
  topN?: number;
  /** Pixels, 32..4096: the image is scaled so its shorter side is this. Default: the network's input size (224). */
  size?: number;
  /** Gaussian blur of each class mask, sigma in pixels at the network's input scale, 0..64 (0: none). Default size/28 (8 at 224). */
  blurSigma?: number;
  /** A box covers the connected region above this fraction of the side's maximum, 0..1. Default 0.5. */
  maskThreshold?: number;
  /**
   * How a class's score is seeded on the class map before back-propagating:
   * 'softmax' (default) weighs each window by the class's softmax there, so a class speaks for
   * the windows that see it; 'uniform' seeds every window equally (the gradient of the mean logit).
   */
  seed?: 'softmax' | 'uniform';
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** Called as work advances (after the model is loaded); `done` of `total` units of that step. Default none. */
  onStep?: (step: LocateStep, done: number, total: number) => void;
}

/** A rectangle in source-image pixels, with the share of the side's above-threshold mass inside it. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
  mass: number;
}

/** One sign of a principal mask: a region, and what the network sees there. */
export interface MaskSide {
  sign: 'positive' | 'negative';
  /** Share of the principal mask's absolute mass on this side, 0..1. */
  mass: number;
  /** Top-N classes of the image seen through this side. */
  classes: Classification[];
  /** Mass-weighted centre of the above-threshold region, [x, y] in source-image pixels. */
  centroid: [number, number];
  /** Connected regions above the threshold, largest mass first (at most 3). */
  boxes: Box[];
  /** The side normalized to 0..1, maskSize[0] rows of maskSize[1] values. */
  mask: Float32Array;
}

export interface ClassLoading {
  index: number;
  label: string;
  /** Component of the unit eigenvector for this class, −1..1. */
  loading: number;
}

export interface PrincipalMask {
  /** Eigenvalue of the mask covariance. */
  eigenvalue: number;
  /** eigenvalue / trace: the share of the masks' variance this component explains. */
  explainedVariance: number;
  /** The top-K classes' loadings, largest |loading| first. */
  loadings: ClassLoading[];
  /** The positive side, then the negative side, each kept when it holds at least 10% of the mass. */
  sides: MaskSide[];
}

export interface LocateResult {
  model: string;
  /** Source image [height, width]. */
  imageSize: [number, number];
  /** What the network saw, and the masks' resolution, [height, width]. */
  maskSize: [number, number];
  /** The class map's [rows, columns]. */
  mapSize: [number, number];
  /** The top-K classes of the whole image (mean-logit pooling). */
  classes: Classification[];
  /** Each class's blurred saliency mask (mean 1), in the order of `classes`, maskSize[0] rows of maskSize[1] values. */
  classMasks: Float32Array[];
  components: PrincipalMask[];
}

/** A side that holds less of the absolute mass is noise around the other side, not a region. */
const MIN_SIDE_MASS = 0.1;
const MAX_BOXES = 3;

const cache = new Map<string, Promise<{ model: Model; net: Network }>>();

/** The fully convolutional network per (model, backend), kept for the process's lifetime. */
function prepare(spec: string | Model, options: LocateOptions, backend: string) {
  const key = typeof spec === 'string' ? `${spec}|${backend}` : undefined;
  if (key && cache.has(key)) return cache.get(key)!;
  const p = (async () => {
    const base = typeof spec === 'string' ? await loadModel(spec, options) : spec;
    const model = { ...base, ...toFullyConvolutional(base, { nominalSize: base.inputSize }) } as Model;
    return { model, net: model.graph.compile({ backend: backend as 'cpu' }) };
  })();
  if (key) {
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/**
 * Gradient [1,H,W,3] -> mask [1,H,W,1]: |g| summed over colours (relu(g) + relu(−g) through two 1×1
 * convolutions), then a separable Gaussian over edge-padded borders, so the blur does not darken them.
 */
function maskGraph(sigma: number): Graph {
  const g = new Graph();
  g.input('grad', [1, -1, -1, 3]);
  const split = new Float32Array(18);
  for (let c = 0; c < 3; ++c) (split[c * 6 + c] = 1), (split[c * 6 + 3 + c] = -1);
  g.conv2d('split', 'grad', { kernel: Tensor.from(split, [1, 1, 3, 6]) });
  g.relu('parts', 'split');
  g.conv2d('abs', 'parts', { kernel: Tensor.from(new Float32Array(6).fill(1), [1, 1, 6, 1]) });
  const r = Math.ceil(3 * sigma);
  if (r < 1) return g;
  const w = Float32Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = w.reduce((a, b) => a + b, 0);
  w.forEach((v, i) => (w[i] = v / s));
  g.pad('padded', 'abs', { pads: [0, r, r, 0, 0, r, r, 0], mode: 'edge' });
  g.conv2d('blur_x', 'padded', { kernel: Tensor.from(w, [1, 2 * r + 1, 1, 1]) });
  g.conv2d('blur_y', 'blur_x', { kernel: Tensor.from(w, [2 * r + 1, 1, 1, 1]) });
  return g;
}

function topClasses(scores: Float32Array, n: number, labels?: string[]): Classification[] {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, n)
    .map((index) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: scores[index] }));
}

/** Connected regions (4-neighbours) of `m` at or above `t`, as boxes in mask pixels, largest mass first. */
function regions(m: Float32Array, h: number, w: number, t: number): Box[] {
  const seen = new Uint8Array(m.length);
  const stack = new Int32Array(m.length);
  const boxes: Box[] = [];
  let total = 0;
  for (let start = 0; start < m.length; ++start) {
    if (seen[start] || m[start] < t) continue;
    let top = 0;
    let x0 = w, y0 = h, x1 = 0, y1 = 0, mass = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top) {
      const i = stack[--top];
      const x = i % w, y = (i - x) / w;
      mass += m[i];
      x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, y > 0 ? i - w : -1, y < h - 1 ? i + w : -1])
        if (j >= 0 && !seen[j] && m[j] >= t) (seen[j] = 1), (stack[top++] = j);
    }
    total += mass;
    boxes.push({ x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, mass });
  }
  return boxes
    .map((b) => ({ ...b, mass: b.mass / total }))
    .sort((a, b) => b.mass - a.mass)
    .filter((b, i) => i < MAX_BOXES && b.mass >= 0.05);
}

/** Locates the objects in one image (a path, encoded bytes, or decoded pixels). */
export async function locate(image: string | Uint8Array | Image, options: LocateOptions = {}): Promise<LocateResult> {
  const who = 'locate';
  let topK = checkInteger(who, 'topK', options.topK ?? 20, 1, 100);
  const components = checkInteger(who, 'components', options.components ?? 4, 1, 10);
  const topN = checkInteger(who, 'topN', options.topN ?? 5, 1, 100);
  if (options.size !== undefined) checkInteger(who, 'size', options.size, 32, 4096);
  if (options.blurSigma !== undefined) checkNumber(who, 'blurSigma', options.blurSigma, 0, 64);
  const threshold = checkNumber(who, 'maskThreshold', options.maskThreshold ?? 0.5, 0, 1);
  const seedMode = checkOneOf(who, 'seed', options.seed ?? 'softmax', ['softmax', 'uniform'] as const);
  const backend = checkOneOf(who, 'backend', options.backend ?? 'cpu', ['cpu', 'cuda', 'auto'] as const);
  if (options.onStep !== undefined && typeof options.onStep !== 'function')
    throw invalidParameterError(who, 'onStep', 'function', options.onStep);
  const spec = options.model ?? 'vgg16';
  if (typeof spec !== 'string' && !(spec && typeof spec === 'object' && 'graph' in spec))
    throw invalidParameterError(who, 'model', 'a zoo name, a path or a loaded model', spec);
  const signal = options.signal;
  // Duck-typed as the download does: a signal from another realm (vm, jest) is still a signal.
  if (signal !== undefined && typeof (signal as Partial<AbortSignal> | null)?.throwIfAborted !== 'function')
    throw invalidParameterError(who, 'signal', 'AbortSignal', signal);
  const step = (s: LocateStep, done: number, total: number) => {
    signal?.throwIfAborted();
    options.onStep?.(s, done, total);
  };

  const src = typeof image === 'string' || image instanceof Uint8Array ? await readImage(image) : image;
  const { model, net } = await prepare(spec, options, backend);
  const [mh, mw] = model.inputSize;
  const short = options.size ?? Math.min(mh, mw);
  const sigma = options.blurSigma ?? short / 28;
  const k = short / Math.min(src.width, src.height);
  const input = await resizeImage(src, {
    width: Math.max(mw, Math.round(src.width * k)),
    height: Math.max(mh, Math.round(src.height * k)),
    mode: 'squash',
  });
  const [H, W, P] = [input.height, input.width, input.height * input.width];
  const logitsTap = model.logits ?? model.output;

  return tidy(async () => {
    // One forward keeps the activations; each class's backward reuses them.
    step('classify', 0, 1);
    const x = imageToInput(input, model.preprocess);
    const map = (await net.forward(x, { taps: [logitsTap], grad: true }))[logitsTap];
    const [, rows, cols, nClasses] = map.shape;
    const logits = map.data();
    const classes = topClasses(poolClassMap(logits, nClasses), Math.min(topK, nClasses), model.labels);
    topK = classes.length;
    step('classify', 1, 1);

    const masker = maskGraph(sigma).compile({ backend });
    const masks: Tensor[] = [];
    const positions = rows * cols;
    for (const [i, c] of classes.entries()) {
      step('gradients', i, topK);
      const seed = new Float32Array(logits.length);
      for (let p = 0; p < positions; ++p) {
        const v = logits.subarray(p * nClasses, (p + 1) * nClasses);
        seed[p * nClasses + c.index] = seedMode === 'uniform' ? 1 / positions : softmax(v)[c.index];
      }
      const { input: grad } = await net.backward({ [logitsTap]: Tensor.from(seed, map.shape) });
      const m = (await masker.forward(grad!))[masker.output].reshape([P]);
      // Mean 1: every class's attention weighs the same in the PCA, however steep its score is.
      scale(m, P / Math.max(norm1(m), 1e-30));
      masks.push(m);
      grad!.dispose();
    }
    net.release();
    masker.dispose();
    step('gradients', topK, topK);

    // PCA of the centred masks: covariance from K² native dot products, native eigen-decomposition.
    step('pca', 0, 1);
    const classMasks = masks.map((m) => m.data());
    const mean = Tensor.zeros([P]);
    masks.forEach((m) => axpy(1 / topK, m, mean));
    masks.forEach((m) => axpy(-1, mean, m));
    const cov = masks.map((a) => masks.map((b) => dot(a, b) / P));
    const eig = symEig(cov);
    const trace = cov.reduce((s, row, i) => s + row[i], 0);
    const kept = Array.from(eig.values.keys()).filter((j) => j < components && eig.values[j] > 1e-9 * trace);
    step('pca', 1, 1);

    const mul = new Graph();
    mul.input('x', [1, -1, -1, 3]);
    mul.input('mask', [1, -1, -1, 1]);
    mul.mul('seen', 'x', 'mask');
    const blend = mul.compile({ backend });
    const toSrc = [src.width / W, src.height / H];
    const out: PrincipalMask[] = [];
    let done = 0;
    for (const j of kept) {
      const v = eig.vectors[j];
      const pm = Tensor.zeros([P]);
      masks.forEach((m, i) => axpy(v[i], m, pm));
      const values = pm.data();
      const absMass = norm1(pm);
      const sides: MaskSide[] = [];
      for (const sign of [1, -1]) {
        step('masks', done++, 2 * kept.length);
        const part = new Float32Array(P);
        let max = 0, mass = 0;
        for (let i = 0; i < P; ++i) {
          const y = Math.max(0, sign * values[i]);
          (part[i] = y), (max = Math.max(max, y)), (mass += y);
        }
        if (mass < MIN_SIDE_MASS * absMass || max <= 0) continue;
        part.forEach((y, i) => (part[i] = y / max));
        // Preprocessed input × mask: hidden pixels become the input's zero, the training set's mean colour.
        const seen = (await blend.forward({ x, mask: Tensor.from(part, [1, H, W, 1]) }))[blend.output];
        const sideMap = (await net.forward(seen, { taps: [logitsTap] }))[logitsTap];
        let cx = 0, cy = 0, cm = 0;
        part.forEach((y, i) => {
          if (y >= threshold) (cx += (i % W) * y), (cy += Math.floor(i / W) * y), (cm += y);
        });
        sides.push({
          sign: sign > 0 ? 'positive' : 'negative',
          mass: mass / absMass,
          classes: topClasses(poolClassMap(sideMap.data(), nClasses), topN, model.labels),
          centroid: [((cx / cm + 0.5) * toSrc[0]), ((cy / cm + 0.5) * toSrc[1])],
          boxes: regions(part, H, W, threshold).map((b) => ({
            x: b.x * toSrc[0], y: b.y * toSrc[1], width: b.width * toSrc[0], height: b.height * toSrc[1], mass: b.mass,
          })),
          mask: part,
        });
      }
      out.push({
        eigenvalue: eig.values[j],
        explainedVariance: Math.max(0, eig.values[j]) / trace,
        loadings: classes
          .map((c, i) => ({ index: c.index, label: c.label, loading: v[i] }))
          .sort((a, b) => Math.abs(b.loading) - Math.abs(a.loading)),
        sides,
      });
    }
    blend.dispose();
    step('masks', 2 * kept.length, 2 * kept.length);
    return {
      model: model.name,
      imageSize: [src.height, src.width],
      maskSize: [H, W],
      mapSize: [rows, cols],
      classes,
      classMasks,
      components: out,
    };
  });
}
