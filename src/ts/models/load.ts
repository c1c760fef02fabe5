// loadModel: a zoo name or a local file -> a network ready to compile, with
// its preprocessing and class names.
import * as fs from 'fs';
import * as path from 'path';

import { checkOneOf } from '../validate';
import { vggConfig } from './keras/architectures';
import { FetchOptions } from './zoo/download';
import { loadKerasH5 } from './keras/h5';
import { loadOnnx } from './onnx';
import { loadTflite } from './tflite';
import { loadTfjs } from './tfjs';
import { LoadedModel, Preprocess, probeShape } from './types';
import { DEFAULT_MODEL, fetchModel, formatOf, LabelSet, loadLabels, ModelFormat, ZOO, zooEntry } from './zoo';

/** A loaded model ready for the tasks: its graph, preprocessing, input size and class names. */
export interface Model extends LoadedModel {
  /** The zoo name, or the file it came from. */
  name: string;
  preprocess: Preprocess;
  /** Height and width the network was trained at. */
  inputSize: [number, number];
  /** Class names by output index, when known. */
  labels?: string[];
}

/** Options of `loadModel` (and of every task, for the model it loads): download options, and the preprocessing or architecture of a model given by path. */
export interface LoadModelOptions extends FetchOptions {
  /** For a model given by path: its preprocessing. Default 'caffe' (VGG) for Keras/TF.js, [-1,1] for ONNX and TFLite. */
  preprocess?: Preprocess;
  /** For a weights-only Keras .h5 given by path: its architecture. Default: guessed from the file name (vgg16/vgg19). */
  architecture?: 'vgg16' | 'vgg19';
}

async function openFile(file: string, format: ModelFormat, architecture?: 'vgg16' | 'vgg19'): Promise<LoadedModel> {
  switch (format) {
    case 'tfjs':
      return loadTfjs(fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, 'model.json') : file);
    case 'onnx':
      return loadOnnx(file);
    case 'tflite':
      return loadTflite(file);
    case 'keras':
      return loadKerasH5(file, architecture ? { architecture: vggConfig(architecture === 'vgg16' ? 16 : 19) } : {});
  }
}

function labelSetFor(classes: number | undefined): LabelSet | undefined {
  return classes === 1000 ? 'imagenet1000' : classes === 1001 ? 'imagenet1001' : undefined;
}

/**
 * Loads a model: a zoo name ('vgg16' by default, 'vgg19', 'vgg19-uint8', 'mobilenet-v1-0.25'),
 * downloading on first use, or a path to a .onnx, a .tflite, a TF.js model.json (or its folder) or a Keras .h5.
 */
export async function loadModel(spec: string = DEFAULT_MODEL, options: LoadModelOptions = {}): Promise<Model> {
  if (typeof spec !== 'string' || !spec) throw new Error(`model: Expected a zoo name or a path for model but received ${String(spec)}`);
  const isZoo = ZOO.some((z) => z.name === spec);
  if (!isZoo && !fs.existsSync(spec)) {
    throw new Error(
      `model: '${spec}' is neither a zoo model (${ZOO.map((z) => z.name).join(', ')}) nor an existing file`,
    );
  }
  if (isZoo) {
    const entry = zooEntry(spec);
    const file = await fetchModel(spec, options);
    const loaded = await openFile(file, entry.format, entry.architecture);
    return { ...loaded, name: spec, preprocess: entry.preprocess, inputSize: entry.inputSize, labels: await loadLabels(entry.labels, options) };
  }
  const format = formatOf(spec);
  const arch =
    options.architecture ??
    (format === 'keras' ? (/vgg16/i.test(path.basename(spec)) ? 'vgg16' : /vgg19/i.test(path.basename(spec)) ? 'vgg19' : undefined) : undefined);
  if (arch) checkOneOf('model', 'architecture', arch, ['vgg16', 'vgg19'] as const);
  const loaded = await openFile(spec, format, arch);
  const preprocess: Preprocess = options.preprocess ?? (format === 'onnx' || format === 'tflite' ? { kind: 'minus_one_one' } : { kind: 'caffe', meanBgr: [103.939, 116.779, 123.68] });
  const [, h, w] = loaded.inputShape;
  const probe = loaded.graph.compile();
  let classes: number | undefined;
  try {
    const shapes = probe.inferShapes({ [loaded.input]: probeShape(loaded.inputShape) });
    const out = shapes[loaded.output];
    classes = out[out.length - 1];
  } finally {
    probe.dispose();
  }
  const set = labelSetFor(classes);
  let labels: string[] | undefined;
  if (set) {
    try {
      labels = await loadLabels(set, options);
    } catch {
      labels = undefined; // offline without a mirror: classify still prints indices
    }
  }
  return { ...loaded, name: spec, preprocess, inputSize: [h > 0 ? h : 224, w > 0 ? w : 224], labels };
}
