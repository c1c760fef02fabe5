// style: neural style transfer after Gatys, Ecker & Bethge (2016). The image
// is optimised in the network's input space so that its features at the content
// layers match the content photo's and its Gram matrices at the style layers
// match the style image(s)', with a total-variation term against pixel noise.
//
// Note [Loss scales]: every term is made relative so that one set of weights
// suits every model, layer and image size: content is the RMS error over the RMS
// of the target features, style the mean squared Gram error over the mean square
// of the target Gram, TV the mean squared neighbour difference over the squared
// pixel range. A term's weight is then simply a backward seed (see network.ts).
import { FetchOptions } from '../models/download';
import { featureGraph } from '../models/features';
import { loadModel, LoadModelOptions, Model } from '../models/load';
import { deprocessPixels, imageToInput, inputRange } from '../models/preprocess';
import { Image, readImage, resizeImage } from '../image/io';
import { axpy, scale } from '../linalg';
import { Graph } from '../nn/graph';
import { Network } from '../nn/network';
import { OP_INFO } from '../nn/ops';
import { abortError, adam, lbfgs, OptimizeResult, StopReason } from '../optim';
import { rms } from '../optim/lbfgs';
import { Tensor } from '../tensor';
import { checkBoolean, checkFinite, checkInteger, checkNumber, checkOneOf, invalidParameterError } from '../validate';

/** An image given as a file path, encoded file bytes, or decoded RGB pixels. */
export type ImageSource = string | Uint8Array | Image;

/** A style image with its share in a blend of several. */
export interface StyleImage {
  image: ImageSource;
  /** Share of this style in the blend, finite >= 0 (normalised over all styles). Default 1. */
  weight?: number;
}

export interface StyleOptions extends Omit<LoadModelOptions, 'onProgress' | 'signal'> {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** Longer side of the output in pixels, 16..4096. Default 256, a size a CPU renders in minutes. */
  size?: number;
  /**
   * Longer sides to optimise at, increasing, each 16..4096, the last being the output size: each scale
   * starts from the previous result upsampled, so the coarse layout settles cheaply at a small size.
   * Default [size/2, size] for sizes of 128 and more, else [size].
   */
  scales?: number[];
  /** Iterations per scale, integer 1..100000: one number for all, or one per scale. Default 150 at the first, 100 after. */
  iterations?: number | number[];
  /** Layers whose activations should match the content image. Default ['block4_conv2']. */
  contentLayers?: string[];
  /** Layers whose Gram matrices should match the style. Default block1_conv1 … block5_conv1. */
  styleLayers?: string[];
  /** Relative weight of each style layer, finite >= 0, one per style layer. Default all 1. */
  styleLayerWeights?: number[];
  /** Weight of the content term, finite >= 0. Default 1. See Note [Loss scales]. */
  contentWeight?: number;
  /** Weight of the style term, finite >= 0. Default 3: with content weight 1, clearly painted and still recognisable. */
  styleWeight?: number;
  /** Weight of the total-variation (smoothness) term, finite >= 0. Default 1: damps pixel noise, keeps strokes. */
  tvWeight?: number;
  /** Size of the style images relative to the output's longer side, 0.1..4: larger gives larger strokes. Default 1. */
  styleScale?: number;
  /** Start image: 'noise' (default, seeded), 'content', or an image (resized to the first scale). */
  init?: 'noise' | 'content' | ImageSource;
  /** Seed of the noise init, integer 0..2^32-1. Default 1. */
  seed?: number;
  /** 'lbfgs' (default; fewest network evaluations) or 'adam'. */
  optimizer?: 'lbfgs' | 'adam';
  /** Adam only: early steps move pixels by about this many levels of 0..255, finite > 0. Default 5 (2 leaves noise). */
  learningRate?: number;
  /** Keep the content's colours: the result's luminance with the content's chroma (YIQ). Default false. */
  preserveColors?: boolean;
  /** With the 'cuda' backend: convolutions and Gram matrices on TF32 tensor cores (faster, about 1e-3 relative). Default false. */
  tf32?: boolean;
  /** Called after every iteration; awaited. Default none. */
  onProgress?: (p: StyleProgress) => void | Promise<void>;
  /** Include the current image in each progress report (costs a conversion per iteration). Default false. */
  progressImages?: boolean;
  /** Checked between iterations (and aborts a model download); rejects with an AbortError. Default none. */
  signal?: AbortSignal;
  /** Download progress of the model on first use (see FetchOptions.onProgress). Default none. */
  onDownload?: FetchOptions['onProgress'];
}

/** Weighted loss terms (see Note [Loss scales]); total is their sum. */
export interface StyleLosses {
  total: number;
  content: number;
  style: number;
  tv: number;
}

export interface StyleProgress {
  /** Index of the scale (0 = the smallest) and how many there are. */
  scale: number;
  scales: number;
  /** [height, width] at this scale. */
  size: [number, number];
  /** Iteration at this scale, from 1, and the iterations planned at this scale. */
  iteration: number;
  iterations: number;
  loss: number;
  contentLoss: number;
  styleLoss: number;
  tvLoss: number;
  /** The current image, with progressImages only. */
  image?: Image;
}

export interface ScaleReport {
  size: [number, number];
  iterations: number;
  stopped: StopReason;
  initial: StyleLosses;
  final: StyleLosses;
}

export interface StyleResult {
  image: Image;
  /** Losses at the first evaluation of the first scale and at the result. */
  losses: { initial: StyleLosses; final: StyleLosses };
  /** Per scale: its [height, width], iterations run, why the optimizer stopped, losses at its start and end. */
  scales: ScaleReport[];
  /** Iterations over all scales. */
  iterations: number;
  /** Wall time of the whole call, reading the images and loading the model included. */
  seconds: number;
}

const WHO = 'style';
const DEFAULT_CONTENT_LAYERS = ['block4_conv2'];
const DEFAULT_STYLE_LAYERS = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

type Weighted = { image: Image; weight: number };

function isSource(v: unknown): v is ImageSource {
  return typeof v === 'string' || v instanceof Uint8Array || (!!v && typeof v === 'object' && 'data' in v && 'width' in v);
}

function checkSource(name: string, v: unknown): ImageSource {
  if (!isSource(v)) throw invalidParameterError(WHO, name, 'an image path, bytes or Image', v);
  return v;
}

function checkWeight(name: string, v: unknown, fallback: number): number {
  return checkNumber(WHO, name, checkFinite(WHO, name, v ?? fallback), 0);
}

function checkLayers(name: string, v: unknown, fallback: string[]): string[] {
  const list = v ?? fallback;
  if (!Array.isArray(list) || !list.length) throw invalidParameterError(WHO, name, 'non-empty array of layer names', list);
  list.forEach((l, i) => {
    if (typeof l !== 'string') throw invalidParameterError(WHO, `${name}[${i}]`, "one of the model's layers", l);
  });
  return [...new Set(list as string[])];
}

/** Every option, checked before any image is read or model loaded (layer names wait for the model). */
function checkOptions(content: unknown, styles: unknown, o: StyleOptions) {
  if (!o || typeof o !== 'object') throw invalidParameterError(WHO, 'options', 'an object', o);
  checkSource('content', content);
  const list = (Array.isArray(styles) ? styles : [styles]) as unknown[];
  if (!list.length) throw invalidParameterError(WHO, 'styles', 'one or more style images', styles);
  const styleImages = list.map((s, i) => {
    if (isSource(s)) return { image: s, weight: 1 };
    const e = (s ?? {}) as StyleImage;
    return { image: checkSource(`styles[${i}].image`, e.image), weight: checkWeight(`styles[${i}].weight`, e.weight, 1) };
  });
  if (!(styleImages.reduce((a, s) => a + s.weight, 0) > 0)) throw new Error(`${WHO}: the style weights sum to 0`);
  const size = checkInteger(WHO, 'size', o.size ?? o.scales?.[o.scales.length - 1] ?? 256, 16, 4096);
  const scales = o.scales ?? (size >= 128 ? [Math.round(size / 2), size] : [size]);
  if (!Array.isArray(scales) || !scales.length) throw invalidParameterError(WHO, 'scales', 'non-empty array of sizes', scales);
  scales.forEach((s, i) => checkInteger(WHO, `scales[${i}]`, s, i ? scales[i - 1] : 16, 4096));
  const last = scales[scales.length - 1];
  if (last !== size) throw invalidParameterError(WHO, `scales[${scales.length - 1}]`, `the output size ${size}`, last);
  const its = o.iterations ?? scales.map((_, i) => (i ? 100 : 150));
  const iterations = Array.isArray(its) ? its : scales.map(() => its);
  if (iterations.length !== scales.length)
    throw invalidParameterError(WHO, 'iterations', `a number or ${scales.length} numbers`, its);
  iterations.forEach((n, i) => checkInteger(WHO, Array.isArray(its) ? `iterations[${i}]` : 'iterations', n, 1, 100000));
  const styleLayers = checkLayers('styleLayers', o.styleLayers, DEFAULT_STYLE_LAYERS);
  const layerWeights = o.styleLayerWeights ?? styleLayers.map(() => 1);
  if (!Array.isArray(layerWeights) || layerWeights.length !== styleLayers.length)
    throw invalidParameterError(WHO, 'styleLayerWeights', `array of ${styleLayers.length} weights`, layerWeights);
  layerWeights.forEach((w, i) => checkWeight(`styleLayerWeights[${i}]`, w, 1));
  const init = o.init ?? 'noise';
  if (init !== 'noise' && init !== 'content') checkSource('init', init);
  const model = o.model ?? 'vgg16';
  if (typeof model !== 'string' && !(model && typeof model === 'object' && 'graph' in model))
    throw invalidParameterError(WHO, 'model', 'a zoo name, a path or a loaded model', model);
  for (const f of ['onProgress', 'onDownload'] as const)
    if (o[f] !== undefined && typeof o[f] !== 'function') throw invalidParameterError(WHO, f, 'a function', o[f]);
  for (const f of ['mirror', 'cacheDir'] as const)
    if (o[f] !== undefined && typeof o[f] !== 'string') throw invalidParameterError(WHO, f, 'a string', o[f]);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw invalidParameterError(WHO, 'signal', 'an AbortSignal', o.signal);
  return {
    styleImages,
    scales,
    iterations,
    contentLayers: checkLayers('contentLayers', o.contentLayers, DEFAULT_CONTENT_LAYERS),
    styleLayers,
    layerWeights,
    contentWeight: checkWeight('contentWeight', o.contentWeight, 1),
    styleWeight: checkWeight('styleWeight', o.styleWeight, 3),
    tvWeight: checkWeight('tvWeight', o.tvWeight, 1),
    styleScale: checkNumber(WHO, 'styleScale', o.styleScale ?? 1, 0.1, 4),
    init,
    seed: checkInteger(WHO, 'seed', o.seed ?? 1, 0, 2 ** 32 - 1),
    optimizer: checkOneOf(WHO, 'optimizer', o.optimizer ?? 'lbfgs', ['lbfgs', 'adam'] as const),
    learningRate: checkNumber(WHO, 'learningRate', checkFinite(WHO, 'learningRate', o.learningRate ?? 5), Number.MIN_VALUE),
    preserveColors: checkBoolean(WHO, 'preserveColors', o.preserveColors ?? false),
    tf32: checkBoolean(WHO, 'tf32', o.tf32 ?? false),
    progressImages: checkBoolean(WHO, 'progressImages', o.progressImages ?? false),
    backend: checkOneOf(WHO, 'backend', o.backend ?? 'cpu', ['cpu', 'cuda', 'auto'] as const),
    model,
  };
}
type Checked = ReturnType<typeof checkOptions>;

const models = new Map<string, Promise<Model>>();

/** Loaded models are kept for the process's lifetime, as classify keeps its networks. */
function modelFor(spec: string | Model, o: StyleOptions): Promise<Model> {
  if (typeof spec !== 'string') return Promise.resolve(spec);
  const key = `${spec}|${o.cacheDir ?? ''}|${o.mirror ?? ''}`;
  if (!models.has(key)) {
    const p = loadModel(spec, { ...o, onProgress: o.onDownload, signal: o.signal });
    models.set(key, p);
    p.catch(() => models.delete(key)); // a failed load is not remembered
  }
  return models.get(key)!;
}

/** Layers that a task can tap at any input size: those whose ancestors all keep a feature map. */
function spatialLayers(model: Model): Set<string> {
  const spatial = new Set<string>([model.input]);
  const params = new Set<string>();
  for (const d of model.graph.nodes()) {
    if (d.kind === 'param') params.add(d.name);
    // Spatial ops keep an NHWC feature map: a layer after any other op (flatten, dense) cannot be tapped at any size.
    if (d.kind === 'op' && OP_INFO[d.op].spatial && d.inputs.every((i) => spatial.has(i) || params.has(i))) spatial.add(d.name);
  }
  return new Set(model.layers.filter((l) => spatial.has(l)));
}

async function source(v: ImageSource): Promise<Image> {
  return typeof v === 'string' || v instanceof Uint8Array ? readImage(v) : resizeImage(v, {});
}

/** [height, width] with the longer side `side`, the shorter at least 16 (VGG pools four times). */
function fit(img: Image, side: number): [number, number] {
  const k = side / Math.max(img.width, img.height);
  return [Math.max(16, Math.round(img.height * k)), Math.max(16, Math.round(img.width * k))];
}

function resized(img: Image, [height, width]: [number, number]): Promise<Image> {
  return resizeImage(img, { width, height, mode: 'squash' });
}

/** Mulberry32 noise around mid-grey, ±64 levels: enough to break symmetry, far from the bounds. */
function noiseImage([height, width]: [number, number], seed: number): Image {
  let a = seed >>> 0;
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < data.length; ++i) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = 64 + Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 128);
  }
  return { width, height, data };
}

function toImage(x: Tensor, model: Model): Image {
  const [, height, width] = x.shape;
  const px = new Uint8ClampedArray(deprocessPixels(x.data(), model.preprocess)); // clamps and rounds
  return { width, height, data: new Uint8Array(px.buffer) };
}

/** The result's luminance with the content's chroma (YIQ). */
function keepColours(result: Image, content: Image): Image {
  const r = result.data;
  const c = content.data;
  const out = new Uint8ClampedArray(r.length);
  for (let i = 0; i < r.length; i += 3) {
    const y = 0.299 * r[i] + 0.587 * r[i + 1] + 0.114 * r[i + 2];
    const ci = 0.596 * c[i] - 0.274 * c[i + 1] - 0.322 * c[i + 2];
    const cq = 0.211 * c[i] - 0.523 * c[i + 1] + 0.312 * c[i + 2];
    out[i] = y + 0.956 * ci + 0.621 * cq;
    out[i + 1] = y - 0.272 * ci - 0.647 * cq;
    out[i + 2] = y - 1.106 * ci + 1.703 * cq;
  }
  return { width: result.width, height: result.height, data: new Uint8Array(out.buffer) };
}

/** The feature graph with a Gram node per style layer: `gram/<layer>`. */
function targetGraph(model: Model, styleLayers: string[]): Graph {
  const g = featureGraph(model);
  styleLayers.forEach((l) => g.gram(`gram/${l}`, l));
  return g;
}

/** Style Grams of every style image (resized to the longer side `side`), blended by weight. */
async function styleTargets(net: Network, model: Model, styles: Weighted[], side: number, layers: string[]) {
  const total = styles.reduce((a, s) => a + s.weight, 0);
  const sums = new Map<string, Tensor>();
  for (const s of styles.filter((s) => s.weight > 0)) {
    const input = imageToInput(await resized(s.image, fit(s.image, side)), model.preprocess);
    const out = await net.forward(input, { taps: layers.map((l) => `gram/${l}`) });
    input.dispose();
    for (const l of layers) {
      const gram = out[`gram/${l}`];
      const acc = sums.get(l);
      if (acc) {
        axpy(s.weight / total, gram, acc);
        gram.dispose();
      } else {
        scale(gram, s.weight / total);
        sums.set(l, gram);
      }
    }
  }
  return sums;
}

/** A depthwise [KH, KW, 1, 3] kernel of +1 then -1: neighbour differences per channel, for TV. */
function differenceKernel(vertical: boolean): Tensor {
  return Tensor.from([1, 1, 1, -1, -1, -1], vertical ? [2, 1, 1, 3] : [1, 2, 1, 3]);
}

type Term = { tap: string; kind: 'content' | 'style' | 'tv'; weight: number };

/** The loss network at one scale: targets as params, terms weighted by their backward seeds (Note [Loss scales]). */
async function lossNetwork(c: Checked, model: Model, targets: Network, content: Image, styles: Weighted[], hw: [number, number]) {
  const g = targetGraph(model, c.styleLayers);
  const owned: Tensor[] = [];
  const terms: Term[] = [];
  if (c.contentWeight > 0) {
    const input = imageToInput(await resized(content, hw), model.preprocess);
    const feats = await targets.forward(input, { taps: c.contentLayers });
    input.dispose();
    for (const l of c.contentLayers) {
      owned.push(feats[l]);
      g.param(`target/content/${l}`, feats[l]);
      g.rmsLoss(`loss/content/${l}`, l, `target/content/${l}`);
      const weight = c.contentWeight / c.contentLayers.length / Math.max(rms(feats[l]), 1e-12);
      terms.push({ tap: `loss/content/${l}`, kind: 'content', weight });
    }
  }
  if (c.styleWeight > 0) {
    const grams = await styleTargets(targets, model, styles, Math.round(Math.max(...hw) * c.styleScale), c.styleLayers);
    const sum = c.layerWeights.reduce((a, b) => a + b, 0) || 1;
    c.styleLayers.forEach((l, i) => {
      const t = grams.get(l)!;
      owned.push(t);
      if (!c.layerWeights[i]) return;
      g.param(`target/gram/${l}`, t);
      g.mseLoss(`loss/style/${l}`, `gram/${l}`, `target/gram/${l}`);
      const weight = (c.styleWeight * c.layerWeights[i]) / sum / Math.max(rms(t) ** 2, 1e-24);
      terms.push({ tap: `loss/style/${l}`, kind: 'style', weight });
    });
  }
  if (c.tvWeight > 0) {
    const { lo, hi } = inputRange(model.preprocess);
    const range2 = lo.reduce((a, l, i) => a + (hi[i] - l) ** 2, 0) / lo.length;
    const [h, w] = hw;
    for (const [axis, count] of [['y', (h - 1) * w * 3], ['x', h * (w - 1) * 3]] as const) {
      const kernel = differenceKernel(axis === 'y');
      owned.push(kernel);
      g.conv2d(`tv/d${axis}`, model.input, { kernel, groups: 3 });
      g.sumSquares(`loss/tv/${axis}`, `tv/d${axis}`);
      terms.push({ tap: `loss/tv/${axis}`, kind: 'tv', weight: c.tvWeight / Math.max(count, 1) / range2 });
    }
  }
  return { net: g.compile({ backend: c.backend, tf32: c.tf32 }), terms, owned };
}

/**
 * [async] Renders `content` in the style of `styles` (one image, or several blended by weight).
 * Every option is checked first; then the images are read (rejecting with the image module's
 * errors), the model loaded and the layer names checked, all before the first network evaluation.
 * Rejects with an AbortError ('style: aborted') once `signal` aborts.
 */
export async function style(
  content: ImageSource,
  styles: ImageSource | (ImageSource | StyleImage)[],
  options: StyleOptions = {},
): Promise<StyleResult> {
  const start = Date.now();
  const c = checkOptions(content, styles, options);
  const { signal, onProgress } = options;
  if (signal?.aborted) throw abortError(WHO, signal);
  const contentImage = await source(content);
  const styleImages = await Promise.all(c.styleImages.map(async (s) => ({ image: await source(s.image), weight: s.weight })));
  const initImage = c.init === 'noise' || c.init === 'content' ? undefined : await source(c.init);
  const model = await modelFor(c.model, options);
  const layers = spatialLayers(model);
  for (const [name, list] of [['contentLayers', c.contentLayers], ['styleLayers', c.styleLayers]] as const)
    list.forEach((l, i) => {
      if (!layers.has(l)) throw invalidParameterError(WHO, `${name}[${i}]`, "one of the model's layers", l);
    });

  // Pixels stay in 0..255: the optimizers keep x inside the input range of each channel.
  const bounds = inputRange(model.preprocess);
  const targets = targetGraph(model, c.styleLayers).compile({ backend: c.backend, tf32: c.tf32 });
  const report: ScaleReport[] = [];
  let image: Image | undefined;
  try {
    for (let k = 0; k < c.scales.length; ++k) {
      if (signal?.aborted) throw abortError(WHO, signal);
      const hw = fit(contentImage, c.scales[k]);
      const from = image ?? (c.init === 'noise' ? noiseImage(hw, c.seed) : c.init === 'content' ? contentImage : initImage!);
      const hostX0 = imageToInput(await resized(from, hw), model.preprocess);
      const { net, terms, owned } = await lossNetwork(c, model, targets, contentImage, styleImages, hw);
      // On a GPU the image, its gradient and the optimizer's vectors stay in device memory.
      const onDevice = net.backend === 'cuda';
      const x0 = hostX0.to(onDevice ? 'cuda' : 'cpu');
      if (x0 !== hostX0) hostX0.dispose();
      const seeds = Object.fromEntries(terms.map((t) => [t.tap, t.weight]));
      const evals: StyleLosses[] = [];
      const objective = async (x: Tensor) => {
        const { taps: out, gradients } = await net.gradient(x, seeds, { taps: terms.map((t) => t.tap), onDevice });
        const l: StyleLosses = { total: 0, content: 0, style: 0, tv: 0 };
        for (const t of terms) {
          l[t.kind] += out[t.tap].item() * t.weight;
          out[t.tap].dispose();
        }
        l.total = l.content + l.style + l.tv;
        evals.push(l);
        return { loss: l.total, grad: gradients[0].input! };
      };
      // Both optimizers report right after evaluating the point they report, so evals' last entry is its terms.
      const onIteration = async (iteration: number, loss: number, x: Tensor) => {
        const l = evals[evals.length - 1];
        await onProgress?.({
          ...{ scale: k, scales: c.scales.length, size: hw, iteration, iterations: c.iterations[k], loss },
          ...{ contentLoss: l.content, styleLoss: l.style, tvLoss: l.tv },
          ...(c.progressImages ? { image: toImage(x, model) } : {}),
        });
      };
      let res: OptimizeResult;
      try {
        const common = { maxIterations: c.iterations[k], bounds, signal, onIteration };
        const learningRate = (c.learningRate * (bounds.hi[0] - bounds.lo[0])) / 255; // pixel levels -> input units
        res =
          c.optimizer === 'lbfgs' ? await lbfgs(objective, x0, common) : await adam(objective, x0, { ...common, learningRate });
      } catch (err) {
        if ((err as Error).name === 'AbortError' && signal?.aborted) throw abortError(WHO, signal);
        throw err;
      } finally {
        x0.dispose();
        net.dispose();
        owned.forEach((t) => t.dispose());
      }
      image = toImage(res.x, model);
      res.x.dispose();
      const final = [...evals].reverse().find((e) => e.total === res.loss) ?? evals[evals.length - 1];
      report.push({ size: hw, iterations: res.iterations, stopped: res.reason, initial: evals[0], final });
    }
  } finally {
    targets.dispose();
  }
  if (c.preserveColors) image = keepColours(image!, await resized(contentImage, [image!.height, image!.width]));
  return {
    image: image!,
    losses: { initial: report[0].initial, final: report[report.length - 1].final },
    scales: report,
    iterations: report.reduce((a, r) => a + r.iterations, 0),
    seconds: (Date.now() - start) / 1000,
  };
}
