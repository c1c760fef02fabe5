// Seeded noise images (a start point for optimising an image).
import { mulberry32 } from '../random';
import { Image } from './io';

/** Uniform noise around mid-grey, ±64 levels: enough to break symmetry, far from the bounds (Mulberry32, seeded). */
export function noiseImage([height, width]: [number, number], seed: number): Image {
  const random = mulberry32(seed);
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < data.length; ++i) data[i] = 64 + Math.floor(random() * 128);
  return { width, height, data };
}
