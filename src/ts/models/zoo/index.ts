// The model zoo: names -> public files (URLs, digests), format, preprocessing,
// labels. Files download on first use into the cache (see ../download.ts);
// offline, EYECANDY_MIRROR (a folder or base URL) or --model PATH serves them.
import * as fs from 'fs';
import * as path from 'path';

import { invalidParameterError } from '../../validate';
import { fetchFile, FetchOptions, RemoteFile } from './download';
import { Preprocess } from '../types';
import { packagedImagenetLabels } from '../labels';
import { VGG19_UINT8_FILES } from './vgg19-uint8';

export type ModelFormat = 'keras' | 'tfjs' | 'onnx' | 'tflite';

export interface ZooEntry {
  name: string;
  description: string;
  format: ModelFormat;
  /** Files to fetch; the first is the one the loader opens. */
  files: RemoteFile[];
  /** Keras weights-only files take their architecture from here. */
  architecture?: 'vgg16' | 'vgg19';
  preprocess: Preprocess;
  /** Input height and width the network was trained at. */
  inputSize: [number, number];
  labels: LabelSet;
}

/** Class names: the 1000 ILSVRC-2012 classes, or 1001 with 'background' first (TF-slim). */
export type LabelSet = 'imagenet1000' | 'imagenet1001';

const CAFFE: Preprocess = { kind: 'caffe', meanBgr: [103.939, 116.779, 123.68] };

function kerasApplications(model: 'vgg16' | 'vgg19', md5: string): RemoteFile {
  const file = `${model}_weights_tf_dim_ordering_tf_kernels.h5`;
  return {
    name: `models/${model}/${file}`,
    urls: [
      `https://storage.googleapis.com/tensorflow/keras-applications/${model}/${file}`,
      `https://github.com/fchollet/deep-learning-models/releases/download/v0.1/${file}`,
    ],
    digest: md5, // Keras publishes md5 for these files
  };
}

const TFJS_VGG19 = 'https://raw.githubusercontent.com/azertat/tfjs_models/7a9a6d30a68cc1b36ab8ca14b5921fb77dc9c357/models/little_shards';

/** The ImageNet class names (google-coral/test_data, 1001 lines with 'background' first). */
export const LABELS_FILE: RemoteFile = {
  name: 'labels/imagenet_labels_1001.txt',
  urls: ['https://raw.githubusercontent.com/google-coral/test_data/104342d2d3480b3e66203073dac24f4e2dbb4c41/imagenet_labels.txt'],
  digest: 'b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1',
  size: 21686,
};

/** The models eyecandy knows by name: vgg16, vgg19, vgg19-uint8, mobilenet-v1-0.25, with their files and digests. */
export const ZOO: readonly ZooEntry[] = [
  {
    name: 'vgg16',
    description: 'VGG16, ImageNet (Keras applications, float32 HDF5, 528 MB)',
    format: 'keras',
    architecture: 'vgg16',
    files: [kerasApplications('vgg16', '64373286793e3c8b2b4e3219cbf3544b')],
    preprocess: CAFFE,
    inputSize: [224, 224],
    labels: 'imagenet1000',
  },
  {
    name: 'vgg19',
    description: 'VGG19, ImageNet (Keras applications, float32 HDF5, 549 MB)',
    format: 'keras',
    architecture: 'vgg19',
    files: [kerasApplications('vgg19', 'cbe5617147190e668d6c5d5026f83318')],
    preprocess: CAFFE,
    inputSize: [224, 224],
    labels: 'imagenet1000',
  },
  {
    name: 'vgg19-uint8',
    description: 'VGG19, ImageNet (TF.js layers model, uint8-quantized weights, 137 MB)',
    format: 'tfjs',
    files: VGG19_UINT8_FILES.map(([file, digest, size]) => ({
      name: `models/vgg19-tfjs-uint8/${file}`,
      urls: [`${TFJS_VGG19}/${file}`],
      digest,
      size,
    })),
    preprocess: CAFFE,
    inputSize: [224, 224],
    labels: 'imagenet1000',
  },
  {
    name: 'mobilenet-v1-0.25',
    description: 'MobileNet v1 0.25 224, ImageNet, 1001 classes (TF-slim, float32 TFLite, 1.9 MB)',
    format: 'tflite',
    files: [
      {
        name: 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224_1_default_1.tflite',
        urls: [
          'https://raw.githubusercontent.com/tensorflow/tflite-support/47b11719a74170efec0d30294b48c056414bc564/tensorflow_lite_support/cc/test/testdata/task/vision/mobilenet_v1_0.25_224_1_default_1.tflite',
        ],
        digest: '446ec673881cd46371a8726075b714194ada39d144762260cb76d15318597df7',
        size: 1882904,
      },
    ],
    preprocess: { kind: 'minus_one_one' },
    inputSize: [224, 224],
    labels: 'imagenet1001',
  },
];

export const DEFAULT_MODEL = 'vgg16';

export function zooEntry(name: string): ZooEntry {
  const e = ZOO.find((z) => z.name === name);
  if (!e) throw invalidParameterError('model', 'model', `one of ${ZOO.map((z) => `'${z.name}'`).join(', ')} or a path`, name);
  return e;
}

/** Fetches (or finds in the cache or mirror) every file of a zoo model; returns the entry file's path. */
export async function fetchModel(name: string, options: FetchOptions = {}): Promise<string> {
  const entry = zooEntry(name);
  const paths: string[] = [];
  let done = 0;
  const total = entry.files.reduce((a, f) => a + (f.size ?? 0), 0);
  for (const file of entry.files) {
    const onProgress = options.onProgress
      ? (received: number, t: number | undefined) =>
          options.onProgress!(done + received, total || (entry.files.length === 1 ? t : undefined))
      : undefined;
    paths.push(await fetchFile(file, { ...options, onProgress }));
    done += file.size ?? 0;
  }
  return paths[0];
}

const labelCache = new Map<string, string[]>();

/** Class names for a label set: those shipped with the package, else fetched like model files (cached; a mirror serves them offline). */
export async function loadLabels(set: LabelSet, options: FetchOptions = {}): Promise<string[]> {
  const key = `${set}`;
  if (labelCache.has(key)) return labelCache.get(key)!;
  const shipped = packagedImagenetLabels(set === 'imagenet1000' ? 1000 : 1001);
  if (shipped) return shipped;
  const file = await fetchFile(LABELS_FILE, options);
  const lines = fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length);
  if (lines.length !== 1001) throw new Error(`labels: '${file}' has ${lines.length} lines; expected 1001`);
  const labels = set === 'imagenet1000' ? lines.slice(1) : lines;
  labelCache.set(key, labels);
  return labels;
}

/** Guesses a local file's format from its name. */
export function formatOf(file: string): ModelFormat {
  const base = path.basename(file).toLowerCase();
  if (base.endsWith('.onnx')) return 'onnx';
  if (base.endsWith('.tflite')) return 'tflite';
  if (base.endsWith('.json')) return 'tfjs';
  if (base.endsWith('.h5') || base.endsWith('.hdf5') || base.endsWith('.keras')) return 'keras';
  if (fs.existsSync(file) && fs.statSync(file).isDirectory() && fs.existsSync(path.join(file, 'model.json'))) return 'tfjs';
  throw new Error(`model: cannot tell the format of '${file}'; expected a .onnx or .tflite file, a TF.js model.json (or its folder) or a Keras .h5 file`);
}
