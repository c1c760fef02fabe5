// style's options: what a caller passes, and every check made before any image
// is read or model loaded (layer names wait for the model).
import { Image } from '../../image/io';
import { LoadModelOptions, Model } from '../../models/load';
import { FetchOptions } from '../../models/zoo/download';
import { checkBoolean, checkFinite, checkInteger, checkNumber, checkOneOf, invalidParameterError } from '../../validate';
import { BackendName, checkCommon, ImageSource, isImageSource } from '../runtime';

export const WHO = 'style';
const DEFAULT_CONTENT_LAYERS = ['block4_conv2'];
const DEFAULT_STYLE_LAYERS = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

/** A style image with its share in a blend of several. */
export interface StyleImage {
  image: ImageSource;
  /** Share of this style in the blend, finite >= 0 (normalised over all styles). Default 1. */
  weight?: number;
}

/** Options of `style` (and the model download options). */
export interface StyleOptions extends Omit<LoadModelOptions, 'onProgress' | 'signal'> {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: BackendName;
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

function checkSource(name: string, v: unknown): ImageSource {
  if (!isImageSource(v)) throw invalidParameterError(WHO, name, 'an image path, bytes or Image', v);
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
export function checkStyleOptions(content: unknown, styles: unknown, o: StyleOptions) {
  if (!o || typeof o !== 'object') throw invalidParameterError(WHO, 'options', 'an object', o);
  checkSource('content', content);
  const list = (Array.isArray(styles) ? styles : [styles]) as unknown[];
  if (!list.length) throw invalidParameterError(WHO, 'styles', 'one or more style images', styles);
  const styleImages = list.map((s, i) => {
    if (isImageSource(s)) return { image: s, weight: 1 };
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
  const common = checkCommon(WHO, o, ['onProgress', 'onDownload'], 'onDownload');
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
    tf32: common.tf32,
    progressImages: checkBoolean(WHO, 'progressImages', o.progressImages ?? false),
    backend: common.backend,
    model: common.model,
    signal: common.signal,
    load: common.load,
  };
}
export type CheckedStyleOptions = ReturnType<typeof checkStyleOptions>;
