// Image I/O: decode any format sharp reads (plus BMP, which it does not) to
// 8-bit HWC RGB, encode PNG/JPEG/WebP, resize, and convert to and from tensors.
//
// Every decoded image is normalised the same way, so a model sees the same
// pixels whatever the file format:
// - EXIF orientation is applied (the pixels are turned upright);
// - transparency is composited onto white (sharp's flatten), the way a viewer
//   shows it over a white page; the alpha channel is then gone;
// - grey, CMYK, 16-bit and ICC-tagged images become 8-bit sRGB RGB.
import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';

import { Tensor } from '../tensor';
import { checkBoolean, checkInteger, checkOneOf, invalidParameterError } from '../validate';
import { decodeBmp, isBmp, readBmpHeader } from './bmp';

/** An 8-bit RGB image: `data` holds width*height*3 bytes, HWC, top row first. */
export interface Image {
  width: number;
  height: number;
  data: Uint8Array;
}

/** How an image meets a target size: squash (ignore the aspect ratio), cover (crop), contain (letterbox) or none. */
export type ResizeMode = 'squash' | 'cover' | 'contain' | 'none';
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3' | 'mks2013' | 'mks2021';
export type ImageFormat = 'png' | 'jpeg' | 'webp';

const RESIZE_MODES: readonly ResizeMode[] = ['squash', 'cover', 'contain', 'none'];
const KERNELS: readonly ResizeKernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3', 'mks2013', 'mks2021'];
const FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp'];
const EXTENSIONS: Record<string, ImageFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };
/** Largest side we resize to; libvips itself allows more, models never need it. */
const MAX_SIDE = 16384;
/** 1 gigapixel is 3 GB of RGB, near the largest Buffer Node allows. */
const MAX_PIXELS_LIMIT = 1_000_000_000;
const DEFAULT_MAX_PIXELS = 100_000_000;
const BLACK = { r: 0, g: 0, b: 0 };
const WHITE = { r: 255, g: 255, b: 255 };

/** How to bring an image to a target size. */
export interface ImageResizeOptions {
  /** Target width in pixels, 1..16384. Default: from `height`, keeping the aspect ratio. */
  width?: number;
  /** Target height in pixels, 1..16384. Default: from `width`, keeping the aspect ratio. With neither, nothing is resized. */
  height?: number;
  /**
   * 'squash' fills width x height exactly, ignoring the aspect ratio;
   * 'cover' scales until both sides cover the target, then crops the centre;
   * 'contain' scales until the image fits inside, then pads with black (0,0,0), image centred;
   * 'none' leaves the size alone (width and height are ignored). Default 'cover', as sharp.
   */
  mode?: ResizeMode;
  /** Interpolation kernel (sharp's names). Default 'lanczos3', as sharp. */
  kernel?: ResizeKernel;
}

/** Options of `readImage`. */
export interface ReadImageOptions {
  /** Resize after decoding and orienting. Default: keep the decoded size. */
  resize?: ImageResizeOptions;
  /** Refuse images with more pixels than this (width*height as stored), 1..1e9. Default 100,000,000. */
  maxPixels?: number;
}

/** Options of `writeImage`. */
export interface WriteImageOptions {
  /** Output format. Default: from the file extension (.png, .jpg, .jpeg, .webp). */
  format?: ImageFormat;
  /** JPEG/WebP quality, 1..100. Default 90. PNG is lossless and ignores it. */
  quality?: number;
}

export interface ImageToTensorOptions {
  /** true gives shape [1,H,W,3], false gives [H,W,3]. Default true. */
  batch?: boolean;
}

interface CheckedResize {
  width?: number;
  height?: number;
  mode: ResizeMode;
  kernel: ResizeKernel;
}

function checkObject(name: string, v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidParameterError('image', name, 'object', v);
  return v as Record<string, unknown>;
}

function checkResize(v: unknown): CheckedResize | null {
  const o = checkObject('resize', v);
  const width = o.width === undefined ? undefined : checkInteger('image', 'width', o.width, 1, MAX_SIDE);
  const height = o.height === undefined ? undefined : checkInteger('image', 'height', o.height, 1, MAX_SIDE);
  const mode = o.mode === undefined ? 'cover' : checkOneOf('image', 'mode', o.mode, RESIZE_MODES);
  const kernel = o.kernel === undefined ? 'lanczos3' : checkOneOf('image', 'kernel', o.kernel, KERNELS);
  if (mode === 'none' || (width === undefined && height === undefined)) return null;
  return { width, height, mode, kernel };
}

/** Checks an Image's fields and that its data holds exactly width*height*3 bytes. */
function checkImage(v: unknown): Image {
  const o = checkObject('image', v);
  checkInteger('image', 'width', o.width, 1, 2 ** 31 - 1);
  checkInteger('image', 'height', o.height, 1, 2 ** 31 - 1);
  if (!(o.data instanceof Uint8Array)) throw invalidParameterError('image', 'data', 'Uint8Array', o.data);
  const img = o as unknown as Image;
  const need = img.width * img.height * 3;
  if (img.data.length !== need)
    throw new Error(`image: data holds ${img.data.length} bytes but ${img.width}x${img.height} RGB needs ${need}`);
  return img;
}

function applyResize(pipeline: sharp.Sharp, r: CheckedResize): sharp.Sharp {
  const fit: keyof sharp.FitEnum = r.mode === 'squash' ? 'fill' : r.mode === 'cover' ? 'cover' : 'contain';
  return pipeline.resize({ width: r.width, height: r.height, fit, position: 'centre', background: BLACK, kernel: r.kernel });
}

/** Node's errno codes in words; anything else keeps Node's message. */
function fileReason(err: unknown, writing: boolean): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return writing ? 'no such directory' : 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return err instanceof Error ? err.message : String(err);
}

/** sharp/libvips reasons can span lines; keep them on one. */
function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .join('; ');
}

function checkPixels(width: number, height: number, maxPixels: number): void {
  const pixels = width * height;
  if (pixels > maxPixels) throw new Error(`image: ${width}x${height} (${pixels} pixels) exceeds maxPixels ${maxPixels}`);
}

function fromBuffer(data: Buffer, width: number, height: number): Image {
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/**
 * [async] Decodes an image file or in-memory file (any format sharp reads, plus BMP)
 * to 8-bit RGB, upright, with transparency composited onto white.
 * Rejects with "image: cannot read '<path>': <reason>" when the file cannot be read,
 * "image: '<path>' is not a readable image (<reason>)" when it cannot be decoded, and
 * "image: WxH (N pixels) exceeds maxPixels M" (checked from the header, before decoding).
 */
export async function readImage(source: string | Uint8Array, options: ReadImageOptions = {}): Promise<Image> {
  const o = checkObject('options', options);
  const resize = checkResize(o.resize);
  const maxPixels =
    o.maxPixels === undefined ? DEFAULT_MAX_PIXELS : checkInteger('image', 'maxPixels', o.maxPixels, 1, MAX_PIXELS_LIMIT);

  let bytes: Buffer;
  let label: string;
  if (typeof source === 'string') {
    label = `'${source}'`;
    try {
      bytes = await fs.readFile(source);
    } catch (err) {
      throw new Error(`image: cannot read ${label}: ${fileReason(err, false)}`);
    }
  } else if (source instanceof Uint8Array) {
    label = `buffer of ${source.length} bytes`;
    bytes = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.length);
  } else {
    throw invalidParameterError('image', 'source', 'file path or Buffer', source);
  }
  const unreadable = (err: unknown): Error => new Error(`image: ${label} is not a readable image (${reason(err)})`);

  if (isBmp(bytes)) {
    let header;
    try {
      header = readBmpHeader(bytes);
    } catch (err) {
      throw unreadable(err);
    }
    checkPixels(header.width, header.height, maxPixels);
    let img: Image;
    try {
      img = decodeBmp(bytes);
    } catch (err) {
      throw unreadable(err);
    }
    return resize ? resizeRaw(img, resize) : { width: img.width, height: img.height, data: img.data };
  }

  // metadata() reads the header only, so a huge image is refused before its pixels are decoded.
  // sharp's own pixel limit stays off: we enforce ours, with a message that names the sizes.
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw unreadable(err);
  }
  checkPixels(meta.width, meta.height, maxPixels);
  try {
    let pipeline = sharp(bytes, { limitInputPixels: false }).rotate().flatten({ background: WHITE }).toColourspace('srgb');
    if (resize) pipeline = applyResize(pipeline, resize);
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    // flatten + srgb always leave 3 bands; anything else would break the HWC RGB promise.
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return fromBuffer(data, info.width, info.height);
  } catch (err) {
    throw unreadable(err);
  }
}

async function resizeRaw(img: Image, r: CheckedResize): Promise<Image> {
  const input = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
  const { data, info } = await applyResize(input, r).raw().toBuffer({ resolveWithObject: true });
  return fromBuffer(data, info.width, info.height);
}

/**
 * [async] Resizes an RGB image (see ImageResizeOptions for the modes).
 * With mode 'none' or no width/height it resolves to the same image object.
 */
export async function resizeImage(img: Image, options: ImageResizeOptions): Promise<Image> {
  const checked = checkImage(img);
  const r = checkResize(options);
  return r ? resizeRaw(checked, r) : checked;
}

/**
 * [async] Encodes and writes an RGB image. The format comes from `options.format`
 * or else the extension; an unknown extension is an error rather than a guess.
 */
export async function writeImage(file: string, img: Image, options: WriteImageOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) throw invalidParameterError('image', 'path', 'non-empty string', file);
  const checked = checkImage(img);
  const o = checkObject('options', options);
  const quality = o.quality === undefined ? 90 : checkInteger('image', 'quality', o.quality, 1, 100);
  let format: ImageFormat;
  if (o.format !== undefined) {
    format = checkOneOf('image', 'format', o.format, FORMATS);
  } else {
    const ext = path.extname(file).toLowerCase();
    const known = EXTENSIONS[ext];
    if (known === undefined)
      throw new Error(
        `image: cannot tell the format of '${file}' from its extension '${ext}'; use .png, .jpg, .jpeg or .webp, or pass format`,
      );
    format = known;
  }
  const input = sharp(checked.data, { raw: { width: checked.width, height: checked.height, channels: 3 } });
  const encoded =
    format === 'png'
      ? input.png()
      : format === 'jpeg'
        ? input.jpeg({ quality })
        : input.webp({ quality });
  const bytes = await encoded.toBuffer();
  try {
    await fs.writeFile(file, bytes);
  } catch (err) {
    throw new Error(`image: cannot write '${file}': ${fileReason(err, true)}`);
  }
}

/** [sync] A float32 tensor of the pixel values 0..255, [1,H,W,3] (or [H,W,3] with batch false). */
export function imageToTensor(img: Image, options: ImageToTensorOptions = {}): Tensor {
  const checked = checkImage(img);
  const o = checkObject('options', options);
  const batch = o.batch === undefined ? true : checkBoolean('image', 'batch', o.batch);
  const shape = batch ? [1, checked.height, checked.width, 3] : [checked.height, checked.width, 3];
  return Tensor.from(new Float32Array(checked.data), shape);
}

/**
 * [sync] An RGB image from a [H,W,3] or [1,H,W,3] tensor of values in 0..255.
 * Values are clamped to 0..255 and rounded half to even; NaN becomes 0.
 */
export function tensorToImage(t: Tensor): Image {
  if (!(t instanceof Tensor)) throw invalidParameterError('image', 'tensor', 'Tensor', t);
  const shape = t.shape;
  const dims = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (dims.length !== 3 || dims[2] !== 3 || dims[0] < 1 || dims[1] < 1)
    throw new Error(`image: expected a tensor of shape [H,W,3] or [1,H,W,3] but got [${shape.join(',')}]`);
  // Typed-array conversion to Uint8ClampedArray is exactly clamp + round-half-even + NaN->0.
  const clamped = new Uint8ClampedArray(t.data());
  return { width: dims[1], height: dims[0], data: new Uint8Array(clamped.buffer, clamped.byteOffset, clamped.length) };
}
