// Multi-object test pictures built in memory from the photos in ../shared:
// objects of unrelated categories pasted at chosen sizes and places on a grey
// canvas, so each object's box is known exactly. Nothing is written to disk.
import * as fs from 'fs';
import * as path from 'path';

import { Image, readImage, resizeImage } from '../src/ts/image/io';
import { SHARED } from './reference';

export interface ObjectSource {
  name: string;
  /** The classes that count as this object: its own and its close ImageNet siblings (1000-class numbering). */
  classes: ReadonlySet<number>;
  /** Loads the object's picture (already cropped to the object). */
  load(): Promise<Image>;
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const photo = (f: string) => path.join(SHARED, 'images', f);

async function crop(file: string, x: number, y: number, width: number, height: number): Promise<Image> {
  const img = await readImage(photo(file));
  const data = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; ++r)
    data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + width) * 3), r * width * 3);
  return { width, height, data };
}

/**
 * The objects. Sibling sets, by WordNet neighbourhood in the 1000 ILSVRC classes:
 * - cheeseburger 933: the sandwich/bread dishes beside it (bagel 931, pretzel 932, hotdog 934).
 * - tabby cat: the domestic cats 281–285 (tabby, tiger cat, Persian, Siamese, Egyptian cat).
 * - corgi: every dog breed, 151–268 (Pembroke 263 and Cardigan 264 are the corgis).
 * - Golden Gate: the bridges and what they span (suspension bridge 839, steel arch bridge 821, pier 718).
 * - Grace Hopper in uniform: the formal clothes she wears (military uniform 652, suit 834, bow tie 457,
 *   Windsor tie 906, bulletproof vest 465, bearskin 439).
 */
export const OBJECTS: Record<'burger' | 'tabby' | 'corgi' | 'bridge' | 'uniform', ObjectSource> = {
  burger: { name: 'cheeseburger', classes: new Set([931, 932, 933, 934]), load: () => readImage(photo('photos/burger.jpg')) },
  tabby: { name: 'tabby cat', classes: new Set(range(281, 285)), load: () => readImage(photo('photos/tabby_cat_224.bmp')) },
  // The corgi of cats_and_dogs.jpg (1200×600): x 600..920, y 140..600.
  corgi: { name: 'corgi', classes: new Set(range(151, 268)), load: () => crop('photos/cats_and_dogs.jpg', 600, 140, 320, 460) },
  bridge: { name: 'Golden Gate', classes: new Set([839, 821, 718]), load: () => readImage(photo('content/golden_gate.jpg')) },
  uniform: {
    name: 'Grace Hopper in uniform',
    classes: new Set([652, 834, 457, 906, 465, 439]),
    load: async () => ({ width: 224, height: 224, data: new Uint8Array(fs.readFileSync(path.join(SHARED, 'reference/inputs/grace_hopper_224.rgb'))) }),
  },
};

/** An object on the canvas: its box in canvas pixels. */
export interface Placed {
  source: ObjectSource;
  box: { x0: number; y0: number; x1: number; y1: number };
}

export interface Composite {
  name: string;
  image: Image;
  objects: Placed[];
}

/** One object to paste: its height on the canvas and its top-left corner. */
export interface Placement {
  object: ObjectSource;
  height: number;
  x: number;
  y: number;
}

const GREY = 128;

/** A grey canvas with the objects pasted on it (later ones on top), each scaled to its height, aspect kept. */
export async function composite(name: string, width: number, height: number, placements: Placement[]): Promise<Composite> {
  const data = new Uint8Array(width * height * 3).fill(GREY);
  const objects: Placed[] = [];
  for (const p of placements) {
    const src = await p.object.load();
    const w = Math.round((src.width * p.height) / src.height);
    if (p.x < 0 || p.y < 0 || p.x + w > width || p.y + p.height > height)
      throw new Error(`composite ${name}: ${p.object.name} (${w}x${p.height} at ${p.x},${p.y}) leaves the ${width}x${height} canvas`);
    const img = await resizeImage(src, { width: w, height: p.height, mode: 'squash' });
    for (let r = 0; r < p.height; ++r) data.set(img.data.subarray(r * w * 3, (r + 1) * w * 3), ((p.y + r) * width + p.x) * 3);
    objects.push({ source: p.object, box: { x0: p.x, y0: p.y, x1: p.x + w, y1: p.y + p.height } });
  }
  return { name, image: { width, height, data }, objects };
}
