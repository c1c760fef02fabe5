// classify: top-N ImageNet classes of an image, at the network's input size or
// at any size through the fully convolutional network.
import { Image, readImage, resizeImage } from '../image/io';
import { toFullyConvolutional, softmax } from '../models/fcn';
import { resolveLabels } from '../models/labels';
import { loadModel, LoadModelOptions, Model } from '../models/load';
import { imageToInput } from '../models/preprocess';
import { Network } from '../nn/network';
import { keep, tidy } from '../tensor';
import { checkBoolean, checkInteger, checkOneOf, invalidParameterError } from '../validate';
import { ClassMap, ClassMapSummary, ClassPooling, CLASS_POOLINGS, labelledClasses, summarizeClassMap } from './class-selection';

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
  backend?: 'cpu' | 'cuda' | 'auto';
  /** With the 'cuda' backend: convolutions and dense layers on TF32 tensor cores (about 1e-3 relative). Default false. */
  tf32?: boolean;
}

export interface Classification {
  /** Output index (0-based, in the model's own numbering). */
  index: number;
  /** Class name, or `class <index>` when the model has no labels. */
  label: string;
  /** Softmax probability (for 'window_union' and 'max_softmax' pooling: the best per-window probability). */
  probability: number;
}

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

export interface PreparedNetwork {
  model: Model;
  net: Network;
}

const cache = new Map<string, Promise<PreparedNetwork>>();
// Models given as objects: their networks live as long as the model object does.
const objectCache = new WeakMap<Model, Map<string, Promise<PreparedNetwork>>>();

/**
 * A compiled network per (model, backend, fully convolutional, tf32), shared by the tasks
 * (classify, locate): kept for the process's lifetime for a zoo name or path, and as long as the
 * model object for a loaded model, so repeated calls do not compile (and upload) it again.
 */
export function prepareNetwork(
  model: string | Model,
  options: LoadModelOptions & { backend?: 'cpu' | 'cuda' | 'auto'; tf32?: boolean },
  fcn: boolean,
): Promise<PreparedNetwork> {
  const backend = options.backend ?? 'cpu';
  const tf32 = options.tf32 ?? false;
  let store = cache;
  let key = `${model}|${backend}|${fcn}|${tf32}`;
  if (typeof model !== 'string') {
    if (!objectCache.has(model)) objectCache.set(model, new Map());
    store = objectCache.get(model)!;
    key = `${backend}|${fcn}|${tf32}`;
  }
  if (store.has(key)) return store.get(key)!;
  const p = (async () => {
    const base = typeof model === 'string' ? await loadModel(model, options) : model;
    const m = (fcn ? { ...base, ...toFullyConvolutional(base, { nominalSize: base.inputSize }) } : base) as Model;
    // The cached weights must outlive a tidy() the first caller may be running in.
    for (const d of m.graph.nodes()) if (d.kind === 'param') keep(d.value);
    return { model: m, net: m.graph.compile({ backend, tf32 }) };
  })();
  store.set(key, p);
  p.catch(() => store.delete(key)); // a failed load is not remembered
  return p;
}

/**
 * Runs fn when the network's earlier runs are done: a backward reads the activations its forward
 * kept, so a locate interleaved with another locate or a classify on one cached network would
 * read the other's. Every task that runs a shared network goes through here.
 */
const queues = new WeakMap<Network, Promise<unknown>>();
export function exclusive<T>(net: Network, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(net) ?? Promise.resolve()).then(fn, fn);
  queues.set(net, run.catch(() => undefined));
  return run;
}

/** The k highest scores as classes with labels. */
export function topClasses(scores: Float32Array, k: number, labels: string[] | undefined): Classification[] {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, k)
    .map((index) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: scores[index] }));
}

/** Classifies one image (a path, encoded bytes, or decoded pixels). */
export async function classify(image: string | Uint8Array | Image, options: ClassifyOptions = {}): Promise<ClassifyResult> {
  const who = 'classify';
  const topK = checkInteger(who, 'topK', options.topK ?? 5, 1, 1001);
  const anySize = checkBoolean(who, 'anySize', options.anySize ?? false);
  if (options.size !== undefined) checkInteger(who, 'size', options.size, 32, 4096);
  const pooling = checkOneOf(who, 'pooling', options.pooling ?? 'window_union', CLASS_POOLINGS);
  checkOneOf(who, 'backend', options.backend ?? 'cpu', ['cpu', 'cuda', 'auto'] as const);
  checkBoolean(who, 'tf32', options.tf32 ?? false);
  const modelSpec = options.model ?? 'vgg16';
  if (typeof modelSpec !== 'string' && !(modelSpec && typeof modelSpec === 'object' && 'graph' in modelSpec))
    throw invalidParameterError(who, 'model', 'a zoo name, a path or a loaded model', modelSpec);

  const { model, net } = await prepareNetwork(modelSpec, options, anySize);
  const [mh, mw] = model.inputSize;
  let resize;
  if (!anySize) resize = { width: options.size ?? mw, height: options.size ?? mh, mode: 'squash' as const };
  const img =
    typeof image === 'string' || image instanceof Uint8Array
      ? await readImage(image, { resize })
      : resize
        ? await resizeImage(image, resize)
        : image;
  let input = img;
  if (anySize) {
    const short = options.size ?? Math.min(mh, mw);
    const scale = short / Math.min(img.width, img.height);
    const width = Math.max(mw, Math.round(img.width * scale));
    const height = Math.max(mh, Math.round(img.height * scale));
    input = await resizeImage(img, { width, height, mode: 'squash' });
  }
  const logitsTap = model.logits ?? model.output;
  return tidy(async () => {
    const x = imageToInput(input, model.preprocess);
    const out = await exclusive(net, () => net.forward(x, { taps: [logitsTap] }));
    const map = out[logitsTap];
    const classes = map.shape[map.shape.length - 1];
    const values = map.data();
    const labels = resolveLabels(options.labels, model.labels, classes, who);
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
