// dream's options: what a caller passes, and every check that needs no model
// (all done before any work).
import { Image } from '../../image/io';
import { FetchOptions } from '../../models/zoo/download';
import { LoadModelOptions, Model } from '../../models/load';
import { checkBoolean, checkInteger, checkNumber, invalidParameterError } from '../../validate';
import { BackendName, checkCommon } from '../runtime';

const WHO = 'dream';

export interface DreamProgress {
  /** 1-based octave, of `octaves` actually run (those too small for the network are skipped). */
  octave: number;
  octaves: number;
  /** 1-based step within the octave, of `steps`. */
  step: number;
  steps: number;
  /** The objective (see DreamResult.objective) at this octave's size, before this step's update. */
  objective: number;
  /** Size of this octave's image. */
  width: number;
  height: number;
  /** The image after this step, at the octave's size; only with progressImages: true. */
  image?: Image;
}

/** Options of `dream` (and the model download options). */
export interface DreamOptions extends Omit<LoadModelOptions, 'onProgress'> {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /**
   * Layers whose L2 magnitude to raise (1..16 names of the model's spatial layers). With several,
   * each counts by its gain relative to the input (Σ A² / Σ A²₀), so a layer of large activations
   * does not drown the others. Default ['block4_conv3', 'block5_conv2'] for VGG16/19 (dog faces and
   * eyes at the scale of objects, fur and swirls at the scale of texture); for other models the
   * spatial layer 70% of the way in. The default is used only when neither `channels` nor
   * `classIndex` is given.
   */
  layers?: string[];
  /** Only these channel indices count for a layer, e.g. { block4_conv2: [12, 97] }; such a layer joins `layers`. Default none. */
  channels?: Record<string, number[]>;
  /**
   * Raise this class's logit (0..classes−1) instead of (or besides) layers. The network sees
   * windows of its own input size (224×224 for VGG) covering the image, so octaves smaller than
   * that are skipped and the image must be at least that large. With layers too, the class's
   * gradient is simply added to theirs (their balance is not tuned). Default none.
   */
  classIndex?: number;
  /** Gradient steps per octave, integer 1..1000. Default 10. */
  steps?: number;
  /** Step length in pixel levels (of 0..255) per unit of mean |gradient|, number 0.01..100. Default 1.5. */
  stepSize?: number;
  /** Scales processed, integer 1..12. Default 4. */
  octaves?: number;
  /** Size ratio between octaves, number 1.1..2.0. Default 1.4. */
  octaveScale?: number;
  /** Largest random shift (with wrap-around) per step in pixels, integer 0..256. Default 32. */
  jitter?: number;
  /** Largest tile (margin included) run through the network, pixels, integer 64..8192. Default 512. */
  tileSize?: number;
  /**
   * Context each tile sees beyond the part of the image it owns, pixels, integer 0..1024. Default:
   * half the receptive field of the deepest layer, rounded up to its stride (VGG block5_conv2: 96),
   * which makes the tiled gradient equal the whole-image one; smaller is faster but may leave faint
   * seams (the jitter moves them every step). Rounded up to the layer's stride, and capped so a
   * tile owns at least a quarter of its side.
   */
  tileMargin?: number;
  /** Seed of the jitter, integer 0..4294967295. Default 0 (the same result every run). */
  seed?: number;
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: BackendName;
  /** Called after every step. Default none. */
  onProgress?: (progress: DreamProgress) => void;
  /** Pass the current image to onProgress (costs a conversion per step). Default false. */
  progressImages?: boolean;
  /** Download progress of the model on first use (see FetchOptions.onProgress). Default none. */
  onDownload?: FetchOptions['onProgress'];
  /** Stops the download or the dreaming (checked before every tile); rejects with signal.reason. Default none. */
  signal?: AbortSignal;
}

export interface CheckedOptions {
  model: string | Model;
  layers?: string[];
  channels?: [string, number[]][];
  classIndex?: number;
  steps: number;
  stepSize: number;
  octaves: number;
  octaveScale: number;
  jitter: number;
  tileSize: number;
  tileMargin?: number;
  seed: number;
  backend: BackendName;
  onProgress?: (p: DreamProgress) => void;
  progressImages: boolean;
  signal?: AbortSignal;
  load: LoadModelOptions;
}

/** Every check that needs no model; throws the validate.ts texts. */
export function checkDreamOptions(options: DreamOptions): CheckedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw invalidParameterError(WHO, 'options', 'object', options);
  const o = options;
  const common = checkCommon(WHO, o, ['onProgress', 'onDownload'], 'onDownload');
  let layers: string[] | undefined;
  if (o.layers !== undefined) {
    if (!Array.isArray(o.layers) || o.layers.length < 1 || o.layers.length > 16)
      throw invalidParameterError(WHO, 'layers', 'array of 1 to 16 layer names', o.layers);
    o.layers.forEach((l, i) => {
      if (typeof l !== 'string' || !l) throw invalidParameterError(WHO, `layers[${i}]`, "one of the model's layers", l);
    });
    layers = [...new Set(o.layers)];
  }
  let channels: [string, number[]][] | undefined;
  if (o.channels !== undefined) {
    if (o.channels === null || typeof o.channels !== 'object' || Array.isArray(o.channels) || !Object.keys(o.channels).length)
      throw invalidParameterError(WHO, 'channels', 'object of layer name -> channel indices', o.channels);
    channels = Object.entries(o.channels).map(([layer, list]) => {
      if (!Array.isArray(list) || !list.length)
        throw invalidParameterError(WHO, `channels.${layer}`, 'non-empty array of channel indices', list);
      list.forEach((c, i) => checkInteger(WHO, `channels.${layer}[${i}]`, c, 0, 65535));
      return [layer, [...new Set(list)]];
    });
  }
  const classIndex = o.classIndex === undefined ? undefined : checkInteger(WHO, 'classIndex', o.classIndex, 0, 65535);
  return {
    model: common.model,
    layers,
    channels,
    classIndex,
    steps: checkInteger(WHO, 'steps', o.steps ?? 10, 1, 1000),
    stepSize: checkNumber(WHO, 'stepSize', o.stepSize ?? 1.5, 0.01, 100),
    octaves: checkInteger(WHO, 'octaves', o.octaves ?? 4, 1, 12),
    octaveScale: checkNumber(WHO, 'octaveScale', o.octaveScale ?? 1.4, 1.1, 2),
    jitter: checkInteger(WHO, 'jitter', o.jitter ?? 32, 0, 256),
    tileSize: checkInteger(WHO, 'tileSize', o.tileSize ?? 512, 64, 8192),
    tileMargin: o.tileMargin === undefined ? undefined : checkInteger(WHO, 'tileMargin', o.tileMargin, 0, 1024),
    seed: checkInteger(WHO, 'seed', o.seed ?? 0, 0, 4294967295),
    backend: common.backend,
    onProgress: o.onProgress,
    progressImages: checkBoolean(WHO, 'progressImages', o.progressImages ?? false),
    signal: common.signal,
    load: common.load,
  };
}
