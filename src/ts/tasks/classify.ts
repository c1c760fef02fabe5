// classify: top-N ImageNet classes of an image, at the network's input size or
// at any size through the fully convolutional network.
import { Image, resizeImage } from '../image/io';
import { readGivenLabels, resolveLabels } from '../models/labels';
import { LoadModelOptions, Model } from '../models/load';
import { imageToInput } from '../models/preprocess';
import { softmax } from '../nn/rewrites/fcn';
import { tidy } from '../tensor';
import { checkBoolean, checkInteger, checkOneOf } from '../validate';
import { ClassMapSummary, ClassMap, ClassPooling, CLASS_POOLINGS, labelledClasses, summarizeClassMap } from './class-selection';
import { BackendName, checkCommon, Classification, readSource, taskNetwork, topClasses } from './runtime';

export type { Classification };

/** Options of `classify` (and the model download options). */
export interface ClassifyOptions extends LoadModelOptions {
  /** Zoo name, a path, or a model from loadModel(). Default 'vgg16'. */
  model?: string | Model;
  /** How many classes to return, 1..1001. Default 5. */
  topK?: number;
  /**
   * false (default): the image is squashed to the network's input size (224×224 for VGG).
   * true: the network is made fully convolutional and sees the image with its aspect ratio kept;
   * the class map is pooled into one vector (see `pooling`).
   */
  anySize?: boolean;
  /**
   * Pixels, 32..4096. Fixed size: the side of the square the image is squashed to (default: the
   * network's input size). Any size: the image is scaled so its shorter side is this (default: the
   * network's input size), so objects appear at the scale the network learned.
   */
  size?: number;
  /**
   * Any size only: how classes are chosen from the class map. 'window_union' (default): every window's
   * top classes, each ranked by its best window, so each object keeps its classes; 'mean_logits' or
   * 'max_softmax': one pooled vector (see ClassPooling).
   */
  pooling?: ClassPooling;
  /** Class names: a labels file (one a line) or a list, one per output. Default: the model's own (ImageNet's for 1000 or 1001 outputs). */
  labels?: string | string[];
  /** 'cpu' (default), 'cuda' or 'auto'. */
  backend?: BackendName;
  /** With the 'cuda' backend: convolutions and dense layers on TF32 tensor cores (about 1e-3 relative). Default false. */
  tf32?: boolean;
}

/** What `classify` returns. */
export interface ClassifyResult {
  classes: Classification[];
  /** Model name. */
  model: string;
  /** Size the network saw, [height, width]. */
  inputSize: [number, number];
  /** Any size only: the class map's [rows, columns]. */
  mapSize?: [number, number];
  /** Any size only: each window's top class, and the windows each listed class wins. */
  classMap?: ClassMapSummary;
}

/** The option checks classify makes before any work (labels files are read after these). */
export function checkClassifyOptions(options: ClassifyOptions) {
  const who = 'classify';
  const topK = checkInteger(who, 'topK', options.topK ?? 5, 1, 1001);
  const anySize = checkBoolean(who, 'anySize', options.anySize ?? false);
  if (options.size !== undefined) checkInteger(who, 'size', options.size, 32, 4096);
  const pooling = checkOneOf(who, 'pooling', options.pooling ?? 'window_union', CLASS_POOLINGS);
  const common = checkCommon(who, options, ['onProgress']);
  return { topK, anySize, pooling, common };
}

/** Classifies one image (a path, encoded bytes, or decoded pixels). */
export async function classify(image: string | Uint8Array | Image, options: ClassifyOptions = {}): Promise<ClassifyResult> {
  const who = 'classify';
  const { topK, anySize, pooling, common } = checkClassifyOptions(options);
  const givenLabels = readGivenLabels(options.labels, who);

  // The image is read and decoded before the model is loaded (seconds, a GB), so a bad image fails at once.
  const img = await readSource(image);
  const { model, net } = await taskNetwork(common.model, common.load, { backend: common.backend, tf32: common.tf32, fcn: anySize });
  const [mh, mw] = model.inputSize;
  let input = img;
  if (!anySize) {
    // Decoded again with the resize in the decoder's pipeline (shrink-on-load), as the reference results were made.
    const resize = { width: options.size ?? mw, height: options.size ?? mh, mode: 'squash' as const };
    input = typeof image === 'string' || image instanceof Uint8Array ? await readSource(image, resize) : await resizeImage(img, resize);
  } else {
    const short = options.size ?? Math.min(mh, mw);
    const scale = short / Math.min(img.width, img.height);
    const width = Math.max(mw, Math.round(img.width * scale));
    const height = Math.max(mh, Math.round(img.height * scale));
    input = await resizeImage(img, { width, height, mode: 'squash' });
  }
  const logitsTap = model.logits ?? model.output;
  return tidy(async () => {
    const x = imageToInput(input, model.preprocess);
    const out = await net.forward(x, { taps: [logitsTap] });
    const map = out[logitsTap];
    const classes = map.shape[map.shape.length - 1];
    const values = map.data();
    const labels = resolveLabels(givenLabels, model.labels, classes, who);
    const result: ClassifyResult = { classes: [], model: model.name, inputSize: [input.height, input.width] };
    if (anySize) {
      const cm = new ClassMap(values, classes, [map.shape[1], map.shape[2]]);
      result.classes = labelledClasses(cm, topK, pooling, labels);
      result.mapSize = cm.size;
      result.classMap = summarizeClassMap(cm, result.classes.map((c) => c.index), labels);
    } else {
      result.classes = topClasses(model.logits ? softmax(values) : values, topK, labels);
    }
    return result;
  });
}
