// What the server runs: the four tasks on uploaded bytes, with options given as JSON.
// Options are checked twice before any work: first what a network request may set at all
// (no server paths, no URLs, no model or backend: the server chose those at start), then
// the task's own checks (the same ranges and messages the library gives).
import sharp from 'sharp';
import * as fs from 'fs/promises';
import * as os from 'os';
import * as path from 'path';

import { Image, readImage } from '../image/io';
import { classify, checkClassifyOptions } from '../tasks/classify';
import { checkDreamOptions } from '../tasks/dream/options';
import { dream } from '../tasks/dream';
import { checkOptions as checkLocateOptions, locate } from '../tasks/locate';
import { locateToJson, writeLocateReport } from '../tasks/report';
import { style } from '../tasks/style';
import { checkStyleOptions } from '../tasks/style/options';
import { BackendName } from '../tasks/runtime';
import { badOption, HttpError } from './errors';

export const TASKS = ['classify', 'locate', 'dream', 'style'] as const;
export type TaskName = (typeof TASKS)[number];

/** Options a request may set, per task (everything else is the server's or not allowed). */
export const ALLOWED: Record<TaskName, string[]> = {
  classify: ['topK', 'anySize', 'size', 'pooling', 'labels'],
  locate: ['topK', 'components', 'topN', 'size', 'blurSigma', 'maskThreshold', 'seed', 'objective', 'saliency', 'sideView', 'pooling', 'labels'],
  dream: ['layers', 'channels', 'classIndex', 'steps', 'stepSize', 'octaves', 'octaveScale', 'jitter', 'tileSize', 'tileMargin', 'seed', 'progressImages'],
  style: [
    'size', 'scales', 'iterations', 'contentLayers', 'styleLayers', 'styleLayerWeights', 'contentWeight', 'styleWeight', 'tvWeight',
    'styleScale', 'init', 'seed', 'optimizer', 'learningRate', 'preserveColors', 'progressImages', 'styleWeights',
  ],
};
const SERVER_SET = ['model', 'mirror', 'cacheDir', 'backend', 'tf32', 'signal', 'onProgress', 'onStep', 'onDownload'];

/** How the server runs every task (fixed at start). */
export interface RunConfig {
  model: string;
  mirror?: string;
  cacheDir?: string;
  backend: BackendName;
  /** Largest image accepted, in pixels (checked from the header, before decoding). */
  maxPixels: number;
}

export interface JobInputs {
  image: Buffer;
  styles: Buffer[];
}

export interface JobSpec {
  task: TaskName;
  options: Record<string, unknown>;
}

export interface JobOutput {
  result: object;
  files: Record<string, { type: string; data: Buffer }>;
}

export interface JobEvent {
  type: 'progress' | 'image';
  data: Record<string, unknown>;
}

const FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);

/** Format and pixel count from the header: 415 for what is not an image we read, 413 for a decompression bomb. */
export async function checkUpload(field: string, bytes: Buffer, maxPixels: number): Promise<void> {
  if (!bytes.length) throw new HttpError(400, 'empty_upload', `${field}: the upload is empty`);
  let width: number | undefined;
  let height: number | undefined;
  if (bytes[0] === 0x42 && bytes[1] === 0x4d && bytes.length > 26) {
    width = Math.abs(bytes.readInt32LE(18));
    height = Math.abs(bytes.readInt32LE(22));
  } else {
    let meta: sharp.Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch {
      throw new HttpError(415, 'unsupported_format', `${field}: not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, BMP)`);
    }
    if (!meta.format || !FORMATS.has(meta.format))
      throw new HttpError(415, 'unsupported_format', `${field}: ${meta.format ?? 'unknown'} images are not accepted (JPEG, PNG, WebP, GIF, TIFF, BMP)`);
    width = meta.width;
    height = meta.height;
  }
  if (!width || !height) throw new HttpError(400, 'unreadable_image', `${field}: the image header gives no size`);
  if (width * height > maxPixels)
    throw new HttpError(413, 'image_too_large', `${field}: ${width}x${height} (${width * height} pixels) exceeds the limit of ${maxPixels} pixels`);
}

/** Parses the `options` field and checks it as described at the top; throws 400s. */
export function checkJob(task: unknown, optionsText: unknown, inputs: JobInputs): JobSpec {
  if (typeof task !== 'string' || !(TASKS as readonly string[]).includes(task))
    throw new HttpError(400, 'invalid_task', `task: expected one of ${TASKS.join(', ')} but received ${JSON.stringify(task ?? null)}`);
  const t = task as TaskName;
  let options: Record<string, unknown> = {};
  if (optionsText !== undefined && optionsText !== '') {
    try {
      options = JSON.parse(String(optionsText));
    } catch (err) {
      throw new HttpError(400, 'invalid_options', `options: not valid JSON (${(err as Error).message})`);
    }
    if (!options || typeof options !== 'object' || Array.isArray(options))
      throw new HttpError(400, 'invalid_options', 'options: expected a JSON object');
  }
  for (const k of Object.keys(options)) {
    if (SERVER_SET.includes(k)) throw new HttpError(400, 'option_not_allowed', `options.${k}: set by the server at start, not per request`);
    if (!ALLOWED[t].includes(k)) throw new HttpError(400, 'unknown_option', `options.${k}: not an option of ${t} (expected one of ${ALLOWED[t].join(', ')})`);
  }
  // No request names a file or a URL on the server's side.
  if (typeof options.labels === 'string') throw new HttpError(400, 'option_not_allowed', 'options.labels: a list of names; the server reads no files');
  if (options.init !== undefined && options.init !== 'noise' && options.init !== 'content')
    throw new HttpError(400, 'option_not_allowed', `options.init: 'noise' or 'content' (the server reads no paths or URLs) but received ${JSON.stringify(options.init)}`);
  if (t !== 'style' && inputs.styles.length) throw new HttpError(400, 'unexpected_upload', `style: uploads of style images are for the style task only`);
  try {
    switch (t) {
      case 'classify':
        checkClassifyOptions(options);
        break;
      case 'locate':
        checkLocateOptions(options);
        break;
      case 'dream':
        checkDreamOptions(options);
        break;
      case 'style': {
        if (!inputs.styles.length) throw new HttpError(400, 'missing_upload', 'style: upload one or more style images as the field `style`');
        checkStyleOptions(inputs.image, styleList(inputs.styles, options.styleWeights), withoutServer(options));
        break;
      }
    }
  } catch (err) {
    throw err instanceof HttpError ? err : badOption(err);
  }
  return { task: t, options };
}

function styleList(styles: Buffer[], weights: unknown) {
  if (weights === undefined) return styles;
  if (!Array.isArray(weights) || weights.length !== styles.length)
    throw new HttpError(400, 'invalid_option', `options.styleWeights: expected ${styles.length} numbers (one per style upload) but received ${JSON.stringify(weights)}`);
  return styles.map((image, i) => ({ image, weight: weights[i] as number }));
}

function withoutServer(o: Record<string, unknown>) {
  const { styleWeights: _, ...rest } = o;
  return rest;
}

export async function png(img: Image): Promise<Buffer> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}

async function dataUrl(img: Image): Promise<string> {
  return `data:image/png;base64,${(await png(img)).toString('base64')}`;
}

/** Runs one checked job; `emit` gets progress (and intermediate images when asked). */
export async function runJob(
  spec: JobSpec,
  inputs: JobInputs,
  cfg: RunConfig,
  signal: AbortSignal,
  emit: (e: JobEvent) => void | Promise<void>,
): Promise<JobOutput> {
  const common = { model: cfg.model, mirror: cfg.mirror, cacheDir: cfg.cacheDir, backend: cfg.backend };
  const o = spec.options;
  // Events leave in the order the task reported them, images encoded in turn, all before the result.
  let pending: Promise<void> = Promise.resolve();
  const send = (f: () => Promise<void> | void) => {
    pending = pending.then(f).catch(() => undefined);
  };
  const out = await run();
  await pending;
  return out;

  async function run(): Promise<JobOutput> {
  switch (spec.task) {
    case 'classify': {
      signal.throwIfAborted();
      const r = await classify(inputs.image, { ...o, ...common });
      signal.throwIfAborted();
      return { result: r, files: {} };
    }
    case 'locate': {
      const src = await readImage(inputs.image, { maxPixels: cfg.maxPixels });
      const r = await locate(src, {
        ...o,
        ...common,
        signal,
        onStep: (step, done, total) => send(() => emit({ type: 'progress', data: { stage: step, done, total } })),
      });
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'eyecandy-serve-'));
      try {
        await writeLocateReport(src, r, { outDir: dir, html: path.join(dir, 'report.html'), title: 'upload' });
        const files: JobOutput['files'] = {};
        for (const name of await fs.readdir(dir))
          files[name] = { type: name.endsWith('.png') ? 'image/png' : name.endsWith('.html') ? 'text/html; charset=utf-8' : 'application/json', data: await fs.readFile(path.join(dir, name)) };
        return { result: locateToJson(r), files };
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
    case 'dream': {
      const r = await dream(inputs.image, {
        ...o,
        ...common,
        signal,
        onProgress: (p) => {
          const { image, ...data } = p;
          const fraction = ((p.octave - 1) * p.steps + p.step) / (p.octaves * p.steps);
          send(() => emit({ type: 'progress', data: { ...data, fraction } }));
          if (image) send(async () => emit({ type: 'image', data: { name: `octave${p.octave}-step${p.step}`, dataUrl: await dataUrl(image) } }));
        },
      });
      const { image, ...rest } = r;
      return { result: rest, files: { 'dream.png': { type: 'image/png', data: await png(image) } } };
    }
    case 'style': {
      const r = await style(inputs.image, styleList(inputs.styles, o.styleWeights), {
        ...withoutServer(o),
        ...common,
        signal,
        onProgress: (p) => {
          const { image, ...data } = p;
          send(() => emit({ type: 'progress', data: { ...data, fraction: (p.scale + p.iteration / p.iterations) / p.scales } }));
          if (image) send(async () => emit({ type: 'image', data: { name: `scale${p.scale}-iteration${p.iteration}`, dataUrl: await dataUrl(image) } }));
        },
      });
      const { image, ...rest } = r;
      return { result: rest, files: { 'style.png': { type: 'image/png', data: await png(image) } } };
    }
  }
}
}
