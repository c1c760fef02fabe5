// A picture of any-size classify's class map: the image, dimmed, with each
// window's cell (the map stretched over the image) tinted by the colour of the
// class that wins it; the legend is the summary's `winners` / colour list.
import { Image } from '../image/io';
import { ClassMapSummary } from './class-selection';

const PALETTE: [number, number, number][] = [
  [230, 40, 40], [40, 110, 240], [40, 190, 70], [240, 170, 20], [180, 60, 220], [20, 200, 210], [240, 100, 180], [140, 140, 40],
];
const ALPHA = 0.45;

/** The colour each winning class gets, in order of first appearance on the map (row-major). */
export function classMapColours(summary: ClassMapSummary): Map<number, [number, number, number]> {
  const colours = new Map<number, [number, number, number]>();
  for (const w of summary.winners) if (!colours.has(w.index)) colours.set(w.index, PALETTE[colours.size % PALETTE.length]);
  return colours;
}

/** The image with the class map's cells tinted by their winners' colours and a dark line between cells. */
export function classMapImage(src: Image, summary: ClassMapSummary): Image {
  const [rows, cols] = summary.size;
  const colours = classMapColours(summary);
  const out = new Uint8Array(src.data.length);
  for (let y = 0; y < src.height; ++y) {
    const r = Math.min(rows - 1, Math.floor((y * rows) / src.height));
    const edgeY = y > 0 && Math.floor(((y - 1) * rows) / src.height) !== r;
    for (let x = 0; x < src.width; ++x) {
      const c = Math.min(cols - 1, Math.floor((x * cols) / src.width));
      const edge = edgeY || (x > 0 && Math.floor(((x - 1) * cols) / src.width) !== c);
      const colour = colours.get(summary.winners[r * cols + c].index)!;
      for (let k = 0; k < 3; ++k) {
        const i = (y * src.width + x) * 3 + k;
        out[i] = edge ? 0 : Math.round(src.data[i] * (1 - ALPHA) + colour[k] * ALPHA);
      }
    }
  }
  return { width: src.width, height: src.height, data: out };
}
