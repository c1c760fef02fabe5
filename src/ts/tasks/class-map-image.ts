// A picture of any-size classify's class map: the image, dimmed, with each
// window's cell (the map stretched over the image) tinted by the colour of the
// class that wins it, and a legend of the colours below it.
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

const LEGEND_ROW = 22;
const SWATCH = 14;
const PAD = 6;

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The legend under the map: a row per winning class (in colour order), its colour swatch, its
 * label and how many windows it wins. The swatches are drawn into the pixels; the text is drawn
 * with the system's sans-serif font (sharp's SVG renderer), so a machine with no fonts gets the
 * swatches alone.
 */
export async function classMapLegend(summary: ClassMapSummary, width: number): Promise<Image> {
  const colours = classMapColours(summary);
  const counts = new Map<number, number>();
  for (const w of summary.winners) counts.set(w.index, (counts.get(w.index) ?? 0) + 1);
  const entries = [...colours.entries()].map(([index, colour]) => ({
    colour,
    text: `${summary.winners.find((w) => w.index === index)!.label} (${counts.get(index)} of ${summary.winners.length} windows)`,
  }));
  const height = entries.length * LEGEND_ROW + PAD;
  const rows = entries.map((e, i) => {
    const y = PAD + i * LEGEND_ROW;
    const [r, g, b] = e.colour;
    return (
      `<rect x="${PAD}" y="${y}" width="${SWATCH}" height="${SWATCH}" fill="rgb(${r},${g},${b})"/>` +
      `<text x="${PAD * 2 + SWATCH}" y="${y + SWATCH - 2}" font-family="sans-serif" font-size="14" fill="black">${escapeXml(e.text)}</text>`
    );
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="white"/>${rows.join('')}</svg>`;
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) throw new Error(`class map legend: rendered ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** classMapImage with its legend below it: the picture `classify --any-size --out DIR` writes. */
export async function classMapPicture(src: Image, summary: ClassMapSummary): Promise<Image> {
  const map = classMapImage(src, summary);
  const legend = await classMapLegend(summary, Math.max(map.width, 320));
  const width = legend.width;
  const out = new Uint8Array(width * (map.height + legend.height) * 3).fill(255);
  for (let y = 0; y < map.height; ++y) out.set(map.data.subarray(y * map.width * 3, (y + 1) * map.width * 3), y * width * 3);
  out.set(legend.data, map.height * width * 3);
  return { width, height: map.height + legend.height, data: out };
}
