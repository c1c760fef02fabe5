// Raw RGB pixels -> the network's input tensor, and back (for tasks that
// optimise the input image and need to show it).
import { Image } from '../image/io';
import { Tensor } from '../tensor';
import { Preprocess } from './types';

/** Converts RGB 0..255 pixels (HWC) into the network's input values (NHWC). */
export function preprocessPixels(rgb: Uint8Array | Float32Array, p: Preprocess): Float32Array {
  const n = rgb.length / 3;
  const out = new Float32Array(rgb.length);
  switch (p.kind) {
    case 'caffe': {
      const [mb, mg, mr] = p.meanBgr;
      for (let i = 0; i < n; ++i) {
        out[3 * i] = rgb[3 * i + 2] - mb;
        out[3 * i + 1] = rgb[3 * i + 1] - mg;
        out[3 * i + 2] = rgb[3 * i] - mr;
      }
      break;
    }
    case 'mean_std':
      for (let i = 0; i < n; ++i)
        for (let c = 0; c < 3; ++c) out[3 * i + c] = (rgb[3 * i + c] / 255 - p.mean[c]) / p.std[c];
      break;
    case 'minus_one_one':
      for (let i = 0; i < rgb.length; ++i) out[i] = rgb[i] / 127.5 - 1;
      break;
  }
  return out;
}

/** The inverse of preprocessPixels: network values -> RGB 0..255 (unclamped floats). */
export function deprocessPixels(x: Float32Array, p: Preprocess): Float32Array {
  const n = x.length / 3;
  const out = new Float32Array(x.length);
  switch (p.kind) {
    case 'caffe': {
      const [mb, mg, mr] = p.meanBgr;
      for (let i = 0; i < n; ++i) {
        out[3 * i + 2] = x[3 * i] + mb;
        out[3 * i + 1] = x[3 * i + 1] + mg;
        out[3 * i] = x[3 * i + 2] + mr;
      }
      break;
    }
    case 'mean_std':
      for (let i = 0; i < n; ++i)
        for (let c = 0; c < 3; ++c) out[3 * i + c] = (x[3 * i + c] * p.std[c] + p.mean[c]) * 255;
      break;
    case 'minus_one_one':
      for (let i = 0; i < x.length; ++i) out[i] = (x[i] + 1) * 127.5;
      break;
  }
  return out;
}

/** The range of input values that correspond to pixels 0..255, per channel of the network input. */
export function inputRange(p: Preprocess): { lo: number[]; hi: number[] } {
  switch (p.kind) {
    case 'caffe':
      return { lo: p.meanBgr.map((m) => -m), hi: p.meanBgr.map((m) => 255 - m) };
    case 'mean_std':
      return { lo: p.mean.map((m, c) => -m / p.std[c]), hi: p.mean.map((m, c) => (1 - m) / p.std[c]) };
    case 'minus_one_one':
      return { lo: [-1, -1, -1], hi: [1, 1, 1] };
  }
}

/** An image as the network's input tensor [1,H,W,3]. */
export function imageToInput(img: Image, p: Preprocess): Tensor {
  return Tensor.from(preprocessPixels(img.data, p), [1, img.height, img.width, 3]);
}
