// What every task shares: the checks of the options they all take (model,
// backend, tf32, signal, download options, progress callbacks), reading an
// image source, one cache of loaded models and what tasks build from them,
// one abort policy, and turning a network input back into pixels.
//
// Networks in the cache are shared by concurrent calls: a Network runs its
// calls one at a time and Network.gradient keeps a forward and its backward
// together, so no task locks anything.
import { Image, ImageResizeOptions, readImage, resizeImage } from '../image/io';
import { loadModel, LoadModelOptions, Model } from '../models/load';
import { deprocessPixels } from '../models/preprocess';
import { Preprocess } from '../models/types';
import { toFullyConvolutional } from '../nn/rewrites/fcn';
import { BackendName, BACKENDS, Network } from '../nn/network';
import { abortError } from '../optim';
import { keep, Tensor } from '../tensor';
import { checkBoolean, checkOneOf, invalidParameterError } from '../validate';

export { BACKENDS };
export type { BackendName };

/** An image given as a file path, encoded file bytes, or decoded RGB pixels. */
export type ImageSource = string | Uint8Array | Image;

export function isImageSource(v: unknown): v is ImageSource {
  return typeof v === 'string' || v instanceof Uint8Array || (!!v && typeof v === 'object' && 'data' in v && 'width' in v);
}

/** Reads a path or bytes (decoding them), or checks decoded pixels; resized when asked. */
export function readSource(v: ImageSource, resize?: ImageResizeOptions): Promise<Image> {
  return typeof v === 'string' || v instanceof Uint8Array ? readImage(v, { resize }) : resizeImage(v, resize ?? {});
}

/** A zoo name, a path, or a loaded model. */
export function checkModel(who: string, v: unknown): string | Model {
  if (typeof v !== 'string' && !(v && typeof v === 'object' && 'graph' in v))
    throw invalidParameterError(who, 'model', 'a zoo name, a path or a loaded model', v);
  return v as string | Model;
}

export function checkBackend(who: string, v: unknown): BackendName {
  return checkOneOf(who, 'backend', v ?? 'cpu', BACKENDS);
}

/** Duck-typed: a signal from another realm (vm, jest) is still a signal. */
export function checkSignal(who: string, v: unknown): AbortSignal | undefined {
  if (v !== undefined && typeof (v as Partial<AbortSignal> | null)?.throwIfAborted !== 'function')
    throw invalidParameterError(who, 'signal', 'AbortSignal', v);
  return v as AbortSignal | undefined;
}

export function checkFunction(who: string, name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') throw invalidParameterError(who, name, 'function', v);
}

/** The options every task takes. */
export interface CommonOptions extends LoadModelOptions {
  model?: string | Model;
  backend?: BackendName;
  tf32?: boolean;
}

export interface CheckedCommon {
  model: string | Model;
  backend: BackendName;
  tf32: boolean;
  signal?: AbortSignal;
  /** What loadModel needs (download progress and signal included). */
  load: LoadModelOptions;
}

/**
 * Checks model, backend, tf32, signal, mirror and cacheDir, and the callbacks named in
 * `callbacks`. `download` names the option that reports the model download's progress
 * (onProgress for classify and locate; dream and style call it onDownload).
 */
export function checkCommon(who: string, options: object, callbacks: string[] = [], download = 'onProgress'): CheckedCommon {
  const o = options as CommonOptions & Record<string, unknown>;
  const model = checkModel(who, o.model ?? 'vgg16');
  const backend = checkBackend(who, o.backend);
  const tf32 = checkBoolean(who, 'tf32', o.tf32 ?? false);
  const signal = checkSignal(who, o.signal);
  callbacks.forEach((f) => checkFunction(who, f, o[f]));
  for (const f of ['mirror', 'cacheDir'] as const)
    if (o[f] !== undefined && typeof o[f] !== 'string') throw invalidParameterError(who, f, 'string', o[f]);
  const onProgress = o[download] as LoadModelOptions['onProgress'];
  return { model, backend, tf32, signal, load: { ...o, onProgress, signal } };
}

/**
 * The abort policy: between units of work a task checks its signal here. Without `who` it
 * rejects with the signal's reason (AbortSignal.throwIfAborted); with it, with an AbortError
 * '<who>: aborted' whose cause is the reason (the optimizers' error, which style documents).
 */
export function throwIfAborted(signal: AbortSignal | undefined, who?: string): void {
  if (!signal?.aborted) return;
  if (who === undefined) signal.throwIfAborted();
  throw abortError(who!, signal);
}

/** A network input [1,H,W,3] back to 8-bit pixels (clamped and rounded). */
export function inputToImage(x: Tensor, pre: Preprocess): Image {
  const [, height, width] = x.shape;
  const rgb = new Uint8ClampedArray(deprocessPixels(x.data(), pre));
  return { width, height, data: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) };
}

// The cache: per model (a zoo name or path with its download options, or a loaded model
// object), one entry per thing built from it, each keyed by what it depends on
// (backend, tf32, fully convolutional...). Names and paths are kept for the process's
// lifetime; what is built from a model object lives as long as the object.
type Entries = Map<string, Promise<unknown>>;
const byName = new Map<string, Entries>();
const byObject = new WeakMap<Model, Entries>();

function entriesOf(spec: string | Model, load: LoadModelOptions): Entries {
  if (typeof spec === 'string') {
    const key = `${spec}|${load.cacheDir ?? ''}|${load.mirror ?? ''}`;
    if (!byName.has(key)) byName.set(key, new Map());
    return byName.get(key)!;
  }
  if (!byObject.has(spec)) byObject.set(spec, new Map());
  return byObject.get(spec)!;
}

function remember<T>(entries: Entries, key: string, make: () => Promise<T>): Promise<T> {
  const hit = entries.get(key);
  if (hit) return hit as Promise<T>;
  const p = make();
  entries.set(key, p);
  p.catch(() => entries.delete(key)); // a failure is not remembered
  return p;
}

/** The model itself: loaded once per name (and download options); a model object as given. */
export function taskModel(spec: string | Model, load: LoadModelOptions): Promise<Model> {
  if (typeof spec !== 'string') return Promise.resolve(spec);
  return remember(entriesOf(spec, load), 'model', async () => {
    const m = await loadModel(spec, load);
    // The cached weights must outlive a tidy() the first caller may be running in.
    for (const d of m.graph.nodes()) if (d.kind === 'param') keep(d.value);
    return m;
  });
}

/**
 * Something a task builds from a model (compiled networks, derived tables), once per model and
 * `key`; `key` must name everything `build` depends on besides the model (backend, tf32, ...).
 */
export function taskCached<T>(spec: string | Model, load: LoadModelOptions, key: string, build: (m: Model) => T | Promise<T>): Promise<T> {
  return remember(entriesOf(spec, load), key, async () => build(await taskModel(spec, load)));
}

/** One class of a result: its index, label and probability. */
export interface Classification {
  /** Output index (0-based, in the model's own numbering). */
  index: number;
  /** Class name, or `class <index>` when the model has no labels. */
  label: string;
  /** Softmax probability (for 'window_union' and 'max_softmax' pooling: the best per-window probability). */
  probability: number;
}

/** The k highest scores as classes with labels. */
export function topClasses(scores: Float32Array, k: number, labels: string[] | undefined): Classification[] {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, k)
    .map((index) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: scores[index] }));
}

export interface PreparedNetwork {
  model: Model;
  net: Network;
}

/**
 * The model as the tasks run it: as it is, or made fully convolutional (`fcn`) so it takes any
 * image size and gives a class map. Converted once per model; its weights are kept alive for the
 * networks compiled from it.
 */
export function taskModelFor(spec: string | Model, load: LoadModelOptions, fcn: boolean): Promise<Model> {
  return taskCached(spec, load, `model|${fcn}`, (base) => {
    if (!fcn) return base;
    const m = { ...base, ...toFullyConvolutional(base, { nominalSize: base.inputSize }) } as Model;
    for (const d of m.graph.nodes()) if (d.kind === 'param') keep(d.value);
    return m;
  });
}

/** The task model (see taskModelFor) compiled for a backend (classify, locate). */
export function taskNetwork(
  spec: string | Model,
  load: LoadModelOptions,
  o: { backend: BackendName; tf32: boolean; fcn: boolean },
): Promise<PreparedNetwork> {
  return taskCached(spec, load, `network|${o.backend}|${o.fcn}|${o.tf32}`, async () => {
    const model = await taskModelFor(spec, load, o.fcn);
    return { model, net: model.graph.compile({ backend: o.backend, tf32: o.tf32 }) };
  });
}
