// locate: several objects in one image, found by principal masks.
//
// Each of the top-K classes back-propagates to a saliency mask; PCA of those
// masks finds the few ways in which they differ. A principal mask is a contrast
// ("dog classes look here, cat classes look there"), so each of its signs is a
// region of its own, and the image seen through that region is classified
// again: the "eigen-dog" and the "eigen-cat".
import { Image, resizeImage } from '../image/io';
import { axpy, dot, norm1, scale, symEig } from '../linalg';
import { readGivenLabels, resolveLabels } from '../models/labels';
import { LoadModelOptions, Model } from '../models/load';
import { imageToInput, preprocessPixels } from '../models/preprocess';
import { Network } from '../nn/network';
import { Tensor, tidy } from '../tensor';
import { checkInteger, checkNumber, checkOneOf } from '../validate';
import { ClassMap, ClassPooling, CLASS_POOLINGS, labelledClasses, weightedClasses } from './class-selection';
import { downsampleMask, featureSaliency, pixelMaskGraph, splitNetwork, upsampleGraph, windowMass } from './feature-saliency';
import { BackendName, checkCommon, checkFunction, Classification, readSource, taskCached, taskModelFor, taskNetwork, throwIfAborted } from './runtime';

export type LocateStep = 'classify' | 'gradients' | 'pca' | 'masks';

/** Options of `locate` (and the model download options). */
export interface LocateOptions extends LoadModelOptions {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /** Classes whose masks enter the PCA, integer 1..100 (at most the model's class count). Default 20. */
  topK?: number;
  /** Principal masks to keep, integer 1..10; at most topK − 1, as centring removes one dimension. Default 4. */
  components?: number;
  /** Labels per principal-mask side, integer 1..100. Default 5. */
  topN?: number;
  /** Pixels, 32..4096: the image is scaled so its shorter side is this. Default: the network's input size (224). */
  size?: number;
  /** Gaussian blur of each class mask: sigma in pixels at the network's scale, 0..64 (0: none). Default size/20. */
  blurSigma?: number;
  /** Boxes and centroids cover the side's pixels at or above this fraction of its maximum, 0..1. Default 0.5. */
  maskThreshold?: number;
  /**
   * How a class is seeded on the class map's windows: 'windows' (default) weighs each window where the
   * class is among the top 5 by its probability there and leaves the others out, so a class that one
   * object wins does not pull its mask toward another object's windows; 'softmax' weighs every window
   * by the class's probability there; 'uniform' weighs all alike.
   */
  seed?: 'windows' | 'softmax' | 'uniform';
  /**
   * What a class c back-propagates: 'logSoftmax' (default), log p_c, whose gradient is c's logit gradient
   * minus the probability-weighted gradients of all classes, so what every class sees (the most salient
   * object) cancels and c's own object remains; 'logit', c's raw score, whose masks look alike for all
   * classes when one object dominates every window (at 224 px the dog's face does).
   */
  objective?: 'logSoftmax' | 'logit';
  /**
   * Where a class's mask comes from: 'features' (default), its gradient at the network's first
   * stride-16 feature map (VGG: block4_pool), |g| summed over the channels, upsampled and blurred:
   * a backward pass through the last block and the head only, about a tenth of the work; 'pixels',
   * its gradient back to the image through the whole network, |g| summed over the colours and
   * blurred: sharper masks, about 4× slower. Mask sides are classified as `sideView` says either way.
   */
  saliency?: 'features' | 'pixels';
  /**
   * How a mask side is classified: 'crop' (default), the region around the side's peak cut from the
   * image with a margin, scaled to the network's input size, so a small object is seen at the scale
   * the network learned, and seen through the side's mask, so an object behind or beside it does not
   * name it (all sides' crops go through the network as one batch); 'features', the
   * whole image's features with the side's mask applied, each class-map window weighted by how much
   * of the side it sees (a small object's windows also see its surroundings: a small Golden Gate
   * on a plain background reads as a crane).
   */
  sideView?: 'crop' | 'features';
  /** How the top-K classes are chosen from the class map (see classify's `pooling`). Default 'window_union'. */
  pooling?: ClassPooling;
  /** Class names: a labels file (one a line) or a list, one per output. Default: the model's own. */
  labels?: string | string[];
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: BackendName;
  /** With the 'cuda' backend: convolutions and dense layers on TF32 tensor cores (about 1e-3 relative). Default false. */
  tf32?: boolean;
  /** Called as work advances, after the model is loaded: `done` of `total` units of `step`. Default none. */
  onStep?: (step: LocateStep, done: number, total: number) => void;
}

/** A rectangle in source-image pixels; `mass`: its share of the side's above-threshold mass. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
  mass: number;
}

/** One sign of a principal mask: a region, and what the network sees through it. */
export interface MaskSide {
  sign: 'positive' | 'negative';
  /** Share of the principal mask's absolute mass in this side's above-threshold region, 0..1. */
  mass: number;
  /** Top-N classes of the image seen through this side. */
  classes: Classification[];
  /** Mass-weighted centre of the above-threshold region, [x, y] in source-image pixels. */
  centroid: [number, number];
  /** Connected above-threshold regions, largest mass first; at most 3, each with at least 5% of the mass. */
  boxes: Box[];
  /** The side scaled to 0..1: maskSize[0] rows of maskSize[1] values. */
  mask: Float32Array;
}

export interface ClassLoading {
  index: number;
  label: string;
  /** This class's component of the unit eigenvector, −1..1. */
  loading: number;
}

/** One principal component of the class masks, and its two sides (regions). */
export interface PrincipalMask {
  /** Eigenvalue of the masks' covariance. */
  eigenvalue: number;
  /** eigenvalue / trace: the share of the masks' variance this component explains. */
  explainedVariance: number;
  /** The top-K classes' loadings, largest |loading| first. */
  loadings: ClassLoading[];
  /** The positive side, then the negative one; a side whose peak is under a quarter of the other's is left out. */
  sides: MaskSide[];
}

/** What `locate` returns: the image's top classes and its principal masks. */
export interface LocateResult {
  model: string;
  /** Source image [height, width]. */
  imageSize: [number, number];
  /** What the network saw, which is the masks' resolution, [height, width]. */
  maskSize: [number, number];
  /** The class map's [rows, columns]. */
  mapSize: [number, number];
  /** The top-K classes of the whole image, chosen from the class map as classify's any-size mode does. */
  classes: Classification[];
  /** Each class's blurred saliency mask (mean 1), in the order of `classes`, maskSize[0] rows of maskSize[1]. */
  classMasks: Float32Array[];
  /** Leading principal masks, largest variance first. */
  components: PrincipalMask[];
}

/** A side much fainter than the other is the other's echo after centring, not an object. */
const MIN_SIDE_PEAK = 0.25;
const MAX_BOXES = 3;
const MIN_BOX_MASS = 0.05;
/** seed 'windows': a window speaks for the classes among its top WINDOW_TOP. */
const WINDOW_TOP = 5;
/** sideView 'crop': the crop's side over the region's longer side. */
const CROP_MARGIN = 1.25;

/** Connected regions (4-neighbours) of `m` at or above `t`, in mask pixels, largest mass first. */
function regions(m: Float32Array, h: number, w: number, t: number): Box[] {
  const seen = new Uint8Array(m.length);
  const stack = new Int32Array(m.length);
  const boxes: Box[] = [];
  let total = 0;
  for (let start = 0; start < m.length; ++start) {
    if (seen[start] || m[start] < t) continue;
    let top = 0, mass = 0, x0 = w, y0 = h, x1 = 0, y1 = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top) {
      const i = stack[--top];
      const x = i % w, y = (i - x) / w;
      mass += m[i];
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, y > 0 ? i - w : -1, y < h - 1 ? i + w : -1]) {
        if (j < 0 || seen[j] || m[j] < t) continue;
        seen[j] = 1;
        stack[top++] = j;
      }
    }
    total += mass;
    boxes.push({ x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, mass });
  }
  return boxes
    .map((b) => ({ ...b, mass: b.mass / total }))
    .sort((a, b) => b.mass - a.mass)
    .filter((b, i) => i < MAX_BOXES && b.mass >= MIN_BOX_MASS);
}

/** All options checked before any work, with defaults filled in. */
/** Every option check locate makes before any work (exported for servers that check at submit). */
export function checkOptions(o: LocateOptions) {
  const who = 'locate';
  const checked = {
    topK: checkInteger(who, 'topK', o.topK ?? 20, 1, 100),
    components: checkInteger(who, 'components', o.components ?? 4, 1, 10),
    topN: checkInteger(who, 'topN', o.topN ?? 5, 1, 100),
    size: o.size === undefined ? undefined : checkInteger(who, 'size', o.size, 32, 4096),
    blurSigma: o.blurSigma === undefined ? undefined : checkNumber(who, 'blurSigma', o.blurSigma, 0, 64),
    threshold: checkNumber(who, 'maskThreshold', o.maskThreshold ?? 0.5, 0, 1),
    sideView: checkOneOf(who, 'sideView', o.sideView ?? 'crop', ['crop', 'features'] as const),
    seed: checkOneOf(who, 'seed', o.seed ?? 'windows', ['windows', 'softmax', 'uniform'] as const),
    objective: checkOneOf(who, 'objective', o.objective ?? 'logSoftmax', ['logSoftmax', 'logit'] as const),
    pooling: checkOneOf(who, 'pooling', o.pooling ?? 'window_union', CLASS_POOLINGS),
    saliency: checkOneOf(who, 'saliency', o.saliency ?? 'features', ['features', 'pixels'] as const),
    ...checkCommon(who, o),
  };
  checkFunction(who, 'onStep', o.onStep);
  return checked;
}

/**
 * Seed on the class map [positions × classes] whose back-propagation gives class c's gradient; the
 * per-window probabilities come from the ClassMap the classes were chosen from (computed once).
 */
function classSeed(map: ClassMap, c: number, o: ReturnType<typeof checkOptions>): Float32Array {
  const { positions, classes } = map;
  const seed = new Float32Array(positions * classes);
  const row = (p: number) => map.probs.subarray(p * classes, (p + 1) * classes);
  // 'windows': only the windows where c is among the top WINDOW_TOP speak for it (all of them when
  // none does, as for a class chosen by another pooling).
  const speaks = Array.from({ length: positions }, (_, p) => row(p).filter((v) => v > map.prob(p, c)).length < WINDOW_TOP);
  const anySpeaks = speaks.some((v) => v);
  for (let p = 0; p < positions; ++p) {
    const prob = row(p);
    const w = o.seed === 'uniform' ? 1 / positions : o.seed === 'windows' && anySpeaks && !speaks[p] ? 0 : prob[c];
    // d log p_c / d logits = onehot(c) − p.
    if (o.objective === 'logSoftmax') for (let q = 0; q < classes; ++q) seed[p * classes + q] = -w * prob[q];
    seed[p * classes + c] += w;
  }
  return seed;
}

interface SideContext {
  /** The feature map the upper network starts from, [h, w, channels]. */
  features: Float32Array;
  upper: Network;
  tap: string;
  H: number;
  W: number;
  h: number;
  w: number;
  channels: number;
  /** The network's input size: what one window of the class map sees, [height, width]. */
  field: [number, number];
  /** Source-image pixels per mask pixel, across and down. */
  sx: number;
  sy: number;
  nClasses: number;
  labels?: string[];
  /** What the network saw (H x W) and how its pixels become the model's input, for the 'crop' view. */
  input: Image;
  model: Model;
  lower: Network;
  cut: string;
  /** sideView 'crop': the sides waiting for their crops to be classified, and the region each shows. */
  crops: { side: MaskSide; box: Box }[];
  o: ReturnType<typeof checkOptions>;
}

/** The region holding the side's peak (the largest one when the peak's region was too small to keep). */
function peakBox(part: Float32Array, W: number, boxes: Box[]): Box {
  let best = 0;
  part.forEach((v, i) => v > part[best] && (best = i));
  const [x, y] = [best % W, Math.floor(best / W)];
  return boxes.find((b) => x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height) ?? boxes[0];
}

/**
 * The network's input for one side: the region around its peak cut from what the network saw,
 * squared with a margin, scaled to the network's input size (the object at the scale the network
 * learned, whatever its size in the picture), and seen through the side's mask (pixels below the
 * threshold fade to the input's zero, the "nothing" the network's preprocessing subtracts).
 */
async function cropInput(part: Float32Array, box: Box, c: SideContext): Promise<Float32Array> {
  const { H, W } = c;
  const side = Math.max(box.width, box.height) * CROP_MARGIN;
  const [cw, ch] = [Math.round(Math.min(side, W)), Math.round(Math.min(side, H))];
  const x0 = Math.round(Math.min(Math.max(0, box.x + box.width / 2 - cw / 2), W - cw));
  const y0 = Math.round(Math.min(Math.max(0, box.y + box.height / 2 - ch / 2), H - ch));
  const data = new Uint8Array(cw * ch * 3);
  for (let r = 0; r < ch; ++r) data.set(c.input.data.subarray(((y0 + r) * W + x0) * 3, ((y0 + r) * W + x0 + cw) * 3), r * cw * 3);
  const [mh, mw] = c.field;
  const crop = await resizeImage({ width: cw, height: ch, data }, { width: mw, height: mh, mode: 'squash' });
  const x = preprocessPixels(crop.data, c.model.preprocess);
  for (let v = 0; v < mh; ++v)
    for (let u = 0; u < mw; ++u) {
      const m = part[(y0 + Math.min(ch - 1, Math.floor(((v + 0.5) * ch) / mh))) * W + x0 + Math.min(cw - 1, Math.floor(((u + 0.5) * cw) / mw))];
      const k = Math.min(1, m / c.o.threshold);
      for (let j = (v * mw + u) * 3, e = j + 3; j < e; ++j) x[j] *= k;
    }
  return x;
}

/** Classifies every side's crop in one batch (the head's weights are read once for all of them). */
async function classifyCrops(sides: { side: MaskSide; box: Box }[], c: SideContext): Promise<void> {
  if (sides.length === 0) return;
  const [mh, mw] = c.field;
  const batch = new Float32Array(sides.length * mh * mw * 3);
  for (const [i, { side, box }] of sides.entries()) batch.set(await cropInput(side.mask, box, c), i * mh * mw * 3);
  const feats = (await c.lower.forward(Tensor.from(batch, [sides.length, mh, mw, 3]), { taps: [c.cut] }))[c.cut];
  const out = (await c.upper.forward(feats, { taps: [c.tap] }))[c.tap].data();
  const per = out.length / sides.length;
  for (const [i, { side }] of sides.entries()) {
    const map = new ClassMap(out.subarray(i * per, (i + 1) * per), c.nClasses, [1, per / c.nClasses]);
    side.classes = weightedClasses(map, new Float32Array(map.positions).fill(1), c.o.topN, c.labels);
  }
}

/** The positive and negative parts of a principal mask, each scaled to 0..1, measured and classified. */
async function sidesOf(pm: Tensor, c: SideContext): Promise<MaskSide[]> {
  const { H, W, o } = c;
  const values = pm.data();
  const absMass = norm1(pm);
  let [maxPos, maxNeg] = [0, 0];
  for (const y of values) {
    maxPos = Math.max(maxPos, y);
    maxNeg = Math.max(maxNeg, -y);
  }
  const sides: MaskSide[] = [];
  for (const [sign, max] of [[1, maxPos], [-1, maxNeg]]) {
    if (max <= 0 || max < MIN_SIDE_PEAK * Math.max(maxPos, maxNeg)) continue;
    // Float32Array.from: an array of this realm, which Tensor.from accepts (pm.data() comes from the addon's).
    const part = Float32Array.from(values, (y) => Math.max(0, sign * y) / max);
    // The features × the mask as the feature map sees it: hidden positions become the features of nothing.
    let [cx, cy, cm] = [0, 0, 0];
    part.forEach((y, i) => {
      if (y < o.threshold) return;
      cx += (i % W) * y;
      cy += Math.floor(i / W) * y;
      cm += y;
    });
    const boxes = regions(part, H, W, o.threshold);
    const side: MaskSide = {
      sign: sign > 0 ? 'positive' : 'negative',
      mass: (cm * max) / absMass,
      classes: [],
      centroid: [(cx / cm + 0.5) * c.sx, (cy / cm + 0.5) * c.sy],
      boxes: boxes.map((b) => ({
        ...b, x: b.x * c.sx, y: b.y * c.sy, width: b.width * c.sx, height: b.height * c.sy,
      })),
      mask: part,
    };
    if (o.sideView === 'crop' && boxes.length > 0) c.crops.push({ side, box: peakBox(part, W, boxes) });
    else {
      // The features × the mask as the feature map sees it: hidden positions become the features of nothing.
      const fm = downsampleMask(part, H, W, c.h, c.w);
      const seen = Float32Array.from(c.features, (v, i) => v * fm[Math.floor(i / c.channels)]);
      const map = (await c.upper.forward(Tensor.from(seen, [1, c.h, c.w, c.channels]), { taps: [c.tap] }))[c.tap];
      // Each window votes as much as it sees of the side: a window that sees none of it only sees the hidden rest.
      side.classes = weightedClasses(
        new ClassMap(map.data(), c.nClasses, [map.shape[1], map.shape[2]]), windowMass(part, H, W, map.shape[1], map.shape[2], c.field), o.topN, c.labels,
      );
    }
    sides.push(side);
  }
  return sides;
}

/** Locates the objects in one image (a path, encoded bytes, or decoded pixels). */
export async function locate(image: string | Uint8Array | Image, options: LocateOptions = {}): Promise<LocateResult> {
  const o = checkOptions(options);
  const givenLabels = readGivenLabels(options.labels, 'locate');
  const step = (s: LocateStep, done: number, total: number) => {
    throwIfAborted(o.signal);
    options.onStep?.(s, done, total);
  };
  throwIfAborted(o.signal);
  const src = await readSource(image);
  const model = await taskModelFor(o.model, o.load, true);
  const [mh, mw] = model.inputSize;
  const short = o.size ?? Math.min(mh, mw);
  const k = short / Math.min(src.width, src.height);
  const width = Math.max(mw, Math.round(src.width * k));
  const height = Math.max(mh, Math.round(src.height * k));
  const input = await resizeImage(src, { width, height, mode: 'squash' });
  const [H, W, P] = [height, width, height * width];
  const tap = model.logits ?? model.output;
  // The model cut at stride 16, compiled once per model and backend in the tasks' shared cache.
  const split = await taskCached(o.model, o.load, `locate-split|${o.backend}|${o.tf32}`, () =>
    splitNetwork(model, { backend: o.backend, tf32: o.tf32 }),
  );
  const { upper } = split;
  // The whole network is compiled only for the pixel method; the feature method needs just the split.
  const net = o.saliency === 'pixels' ? (await taskNetwork(o.model, o.load, { backend: o.backend, tf32: o.tf32, fcn: true })).net : undefined;

  return tidy(async () => {
    // The lower part runs once; every class back-propagates through the upper part only, as one
    // unit (Network.gradient), so other calls on the shared network wait rather than interleave.
    step('classify', 0, 1);
    const x = imageToInput(input, model.preprocess);
    const feats = (await split.lower.forward(x, { taps: [split.cut] }))[split.cut];
    const [, h, w, channels] = feats.shape;
    const features = feats.data();
    const sigma = o.blurSigma ?? short / 20;
    const pixels = o.saliency === 'pixels';
    const masker = (pixels ? pixelMaskGraph(sigma) : upsampleGraph(H, W, sigma)).compile({ backend: o.backend });
    // On a GPU the masks and the PCA's vector work stay in device memory.
    const onDevice = split.lower.backend === 'cuda';
    const device = onDevice ? 'cuda' : 'cpu';
    const masks: Tensor[] = [];
    let map!: Tensor;
    let labels: string[] | undefined;
    let classes: Classification[] = [];
    const seeds = (out: Record<string, Tensor>) => {
      map = out[tap];
      const nClasses = map.shape[3];
      const classMap = new ClassMap(map.data(), nClasses, [map.shape[1], map.shape[2]]);
      labels = resolveLabels(givenLabels, model.labels, nClasses, 'locate');
      classes = labelledClasses(classMap, o.topK, o.pooling, labels);
      step('classify', 1, 1);
      return classes.map((c) => ({ [tap]: Tensor.from(classSeed(classMap, c.index, o), map.shape) }));
    };
    const addMask = async (saliency: Tensor, i: number) => {
      step('gradients', i, classes.length);
      const m = (await masker.forward(saliency, { onDevice }))[masker.output].reshape([P]);
      saliency.dispose();
      // Mean 1: every class's attention weighs the same in the PCA, however steep its score.
      scale(m, P / Math.max(norm1(m), 1e-30));
      masks.push(m);
    };
    try {
      // release: the activations kept for backward are no longer needed, even after an abort.
      if (pixels) {
        // Each class back to the image through the whole network: |gradient| over the colours.
        await net!.gradient(x, seeds, { taps: [tap], release: true, onDevice, onGradients: ({ input: grad }, i) => addMask(grad!, i) });
      } else {
        await upper.gradient(feats, seeds, {
          taps: [tap],
          release: true,
          onGradients: async ({ input: grad }, i) => {
            const saliency = Tensor.from(featureSaliency(grad!.data(), channels), [1, h, w, 1]);
            grad!.dispose();
            await addMask(saliency, i);
          },
        });
      }
    } finally {
      masker.dispose();
    }
    const [, rows, cols, nClasses] = map.shape;
    const K = classes.length;
    step('gradients', K, K);

    // PCA of the centred masks: covariance from K² native dot products (on the
    // masks' device), native eigen-decomposition of the K x K matrix on the host.
    step('pca', 0, 1);
    const classMasks = masks.map((m) => m.data());
    const mean = Tensor.zeros([P], device);
    masks.forEach((m) => axpy(1 / K, m, mean));
    masks.forEach((m) => axpy(-1, mean, m));
    const cov = masks.map((a) => masks.map((b) => dot(a, b) / P));
    const eig = symEig(cov);
    const trace = cov.reduce((s, row, i) => s + row[i], 0);
    const kept = Array.from(eig.values.keys()).filter((j) => j < o.components && eig.values[j] > 1e-9 * trace);
    step('pca', 1, 1);

    const ctx: SideContext = { features, upper, tap, H, W, h, w, channels, field: model.inputSize, sx: src.width / W, sy: src.height / H, nClasses, labels, input, model, lower: split.lower, cut: split.cut, crops: [], o };
    const components: PrincipalMask[] = [];
    for (const [n, j] of kept.entries()) {
      step('masks', n, kept.length);
      const v = eig.vectors[j];
      const pm = Tensor.zeros([P], device);
      masks.forEach((m, i) => axpy(v[i], m, pm));
      components.push({
        eigenvalue: eig.values[j],
        explainedVariance: Math.max(0, eig.values[j]) / trace,
        loadings: classes
          .map((c, i) => ({ index: c.index, label: c.label, loading: v[i] }))
          .sort((a, b) => Math.abs(b.loading) - Math.abs(a.loading)),
        sides: await sidesOf(pm, ctx),
      });
    }
    await classifyCrops(ctx.crops, ctx);
    step('masks', kept.length, kept.length);
    const result: LocateResult = {
      model: model.name,
      imageSize: [src.height, src.width],
      maskSize: [H, W],
      mapSize: [rows, cols],
      classes,
      classMasks,
      components,
    };
    return result;
  });
}
