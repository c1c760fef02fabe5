// Pictures and a report of a locate() result: each principal-mask side as a
// PNG, the image seen through it, an overlay of all sides in colour, the result
// as JSON (masks left out), and one self-contained HTML page (PNGs inline).
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Image, resizeImage, writeImage } from '../image/io';
import { invalidParameterError } from '../validate';
import { LocateResult, MaskSide } from './locate';

export interface LocateReportOptions {
  /** Folder for locate.json, overlay.png and pc<N>-<sign>.png (created when missing). Default: none written. */
  outDir?: string;
  /** Path of the self-contained HTML report. Default: none written. */
  html?: string;
  /** The image's name, shown in the report. Default 'image'. */
  title?: string;
}

/** Side colours: the first component's two sides get the most distinct pair (red, blue). */
const PALETTE: [number, number, number][] = [
  [230, 40, 40], [40, 110, 240], [40, 190, 70], [240, 170, 20], [180, 60, 220], [20, 200, 210], [240, 100, 180], [140, 140, 40],
];
/** ImageNet's mean colour: what the network saw where a mask hid the image (the preprocessed input's zero). */
const MEAN_RGB = [124, 117, 104];
/** Overlay opacity at a mask value of 1. */
const OVERLAY_ALPHA = 0.65;

type Sided = { component: number; side: MaskSide; name: string; colour: [number, number, number] };

function sidesOf(result: LocateResult): Sided[] {
  return result.components.flatMap((c, j) =>
    c.sides.map((side) => ({ component: j, side, name: `pc${j + 1}-${side.sign}`, colour: [0, 0, 0] as [number, number, number] })),
  ).map((s, i) => ({ ...s, colour: PALETTE[i % PALETTE.length] }));
}

/** A mask (values 0..1 at the network's resolution) as a grey image of the given size. */
export async function maskToImage(mask: Float32Array, maskSize: [number, number], width: number, height: number): Promise<Image> {
  const [h, w] = maskSize;
  if (mask.length !== h * w) throw new Error(`report: a ${h}x${w} mask needs ${h * w} values but has ${mask.length}`);
  const data = new Uint8Array(h * w * 3);
  mask.forEach((v, i) => (data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = Math.round(255 * Math.min(1, Math.max(0, v)))));
  return resizeImage({ width: w, height: h, data }, { width, height, mode: 'squash', kernel: 'linear' });
}

/** The source as the network saw it through a mask: image·m + (1 − m)·mean colour. */
function seenThrough(src: Image, grey: Image): Image {
  const out = new Uint8Array(src.data.length);
  for (let i = 0; i < out.length; ++i) {
    const m = grey.data[i - (i % 3)] / 255;
    out[i] = Math.round(src.data[i] * m + MEAN_RGB[i % 3] * (1 - m));
  }
  return { width: src.width, height: src.height, data: out };
}

/**
 * Each pixel takes the colour of the side that covers it most (blending several colours gives mud),
 * with an opacity that grows with the mask value and with the component's share of the variance.
 */
async function overlay(src: Image, result: LocateResult, sides: Sided[]): Promise<Image> {
  const n = src.width * src.height;
  const best = new Float32Array(n);
  const owner = new Int16Array(n).fill(-1);
  const lead = result.components[0]?.explainedVariance ?? 1;
  for (const [k, s] of sides.entries()) {
    const grey = await maskToImage(s.side.mask, result.maskSize, src.width, src.height);
    const weight = Math.sqrt(result.components[s.component].explainedVariance / lead);
    for (let i = 0; i < n; ++i) {
      const m = (grey.data[3 * i] / 255) ** 2 * weight; // squared: faint tails stay clear of the image
      if (m > best[i]) (best[i] = m), (owner[i] = k);
    }
  }
  const out = new Uint8Array(src.data.length);
  for (let i = 0; i < out.length; ++i) {
    const p = (i - (i % 3)) / 3;
    const dim = 0.55 * src.data[i] + 0.45 * MEAN_RGB[i % 3]; // dimmed, so the colours read
    const a = OVERLAY_ALPHA * best[p];
    out[i] = Math.round(owner[p] < 0 ? dim : dim * (1 - a) + sides[owner[p]].colour[i % 3] * a);
  }
  return { width: src.width, height: src.height, data: out };
}

/** The result without its masks, numbers rounded: what `--json` prints and locate.json holds. */
export function locateToJson(result: LocateResult): object {
  const r = (v: number, d = 4) => Number(v.toFixed(d));
  return {
    model: result.model,
    imageSize: result.imageSize,
    maskSize: result.maskSize,
    mapSize: result.mapSize,
    classes: result.classes.map((c) => ({ ...c, probability: r(c.probability) })),
    components: result.components.map((c) => ({
      eigenvalue: c.eigenvalue,
      explainedVariance: r(c.explainedVariance),
      loadings: c.loadings.map((l) => ({ ...l, loading: r(l.loading) })),
      sides: c.sides.map((s) => ({
        sign: s.sign,
        mass: r(s.mass),
        classes: s.classes.map((k) => ({ ...k, probability: r(k.probability) })),
        centroid: s.centroid.map((v) => r(v, 1)),
        boxes: s.boxes.map((b) => ({ x: r(b.x, 1), y: r(b.y, 1), width: r(b.width, 1), height: r(b.height, 1), mass: r(b.mass) })),
      })),
    })),
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

async function pngUri(img: Image, dir: string, name: string): Promise<string> {
  const file = path.join(dir, name);
  await writeImage(file, img);
  return `data:image/png;base64,${(await fs.readFile(file)).toString('base64')}`;
}

/** An image with the side's boxes and centroid drawn over it in SVG. */
function figure(uri: string, src: Image, s?: Sided): string {
  const marks = s
    ? s.side.boxes
        .map((b) => `<rect x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" fill="none" stroke="rgb(${s.colour})" stroke-width="4"/>`)
        .join('') +
      `<circle cx="${s.side.centroid[0]}" cy="${s.side.centroid[1]}" r="8" fill="rgb(${s.colour})" stroke="white" stroke-width="2"/>`
    : '';
  return `<svg viewBox="0 0 ${src.width} ${src.height}" width="${Math.min(src.width, 420)}"><image href="${uri}" width="${src.width}" height="${src.height}"/>${marks}</svg>`;
}

function html(title: string, result: LocateResult, src: Image, uris: Map<string, string>, sides: Sided[]): string {
  const classRows = result.classes.map((c) => `<tr><td>${pct(c.probability)}</td><td>${c.index}</td><td>${esc(c.label)}</td></tr>`).join('');
  const comps = result.components
    .map((c, j) => {
      const loads = c.loadings
        .map((l) => `<tr><td>${esc(l.label.split(',')[0])}</td><td class="${l.loading < 0 ? 'neg' : 'pos'}" style="--w:${Math.abs(l.loading) * 100}%">${l.loading.toFixed(3)}</td></tr>`)
        .join('');
      const cards = sides
        .filter((s) => s.component === j)
        .map((s) => {
          const top = s.side.classes.map((k) => `<li>${pct(k.probability)} ${esc(k.label.split(',')[0])} <small>(${k.index})</small></li>`).join('');
          const boxes = s.side.boxes.map((b) => `[${[b.x, b.y, b.width, b.height].map((v) => Math.round(v)).join(', ')}]`).join(' ');
          return `<div class="card"><h3 style="color:rgb(${s.colour})">${s.side.sign} side: eigen-${esc(s.side.classes[0].label.split(',')[0])}</h3>
${figure(uris.get(`${s.name}-seen`)!, src, s)}${figure(uris.get(s.name)!, src)}
<ol>${top}</ol><p>mass ${pct(s.side.mass)} · centroid (${s.side.centroid.map((v) => Math.round(v)).join(', ')}) · boxes x, y, w, h: ${boxes}</p></div>`;
        })
        .join('');
      return `<section><h2>Principal mask ${j + 1}: ${pct(c.explainedVariance)} of the variance</h2>
<div class="row"><table class="loads"><tr><th>class</th><th>loading</th></tr>${loads}</table>${cards}</div></section>`;
    })
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>locate: ${esc(title)}</title><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}.row{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
svg{display:block;margin:4px 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px}
td.pos,td.neg{background:linear-gradient(90deg,var(--c) var(--w),transparent var(--w));min-width:120px}td.pos{--c:#f4b4b4}td.neg{--c:#b4c8f4}
table{border-collapse:collapse}td,th{padding:1px 8px;text-align:left}
</style></head><body><h1>locate: ${esc(title)}</h1>
<p>Model ${esc(result.model)}; image ${result.imageSize[1]}×${result.imageSize[0]}, seen at ${result.maskSize[1]}×${result.maskSize[0]} (class map ${result.mapSize[0]}×${result.mapSize[1]}).
Each principal mask contrasts the classes with positive loadings (positive side) against those with negative ones; each side is shown as the network saw the image through it, with its boxes and centroid, and as a mask.</p>
<div class="row">${figure(uris.get('source')!, src)}${figure(uris.get('overlay')!, src)}<table><tr><th>p</th><th>#</th><th>top-${result.classes.length} classes</th></tr>${classRows}</table></div>
${comps}</body></html>
`;
}

/** Writes the JSON, mask PNGs, overlay and HTML report asked for; resolves to the files written. */
export async function writeLocateReport(src: Image, result: LocateResult, options: LocateReportOptions = {}): Promise<string[]> {
  for (const k of ['outDir', 'html', 'title'] as const)
    if (options[k] !== undefined && (typeof options[k] !== 'string' || !options[k]))
      throw invalidParameterError('report', k, 'non-empty string', options[k]);
  if (src.width !== result.imageSize[1] || src.height !== result.imageSize[0])
    throw new Error(`report: the image is ${src.width}x${src.height} but the result is for ${result.imageSize[1]}x${result.imageSize[0]}`);
  const files: string[] = [];
  const outDir = options.outDir;
  // PNGs go through files either way: into outDir, or a scratch folder when only the HTML is wanted.
  const dir = outDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'eyecandy-report-')));
  try {
    await fs.mkdir(dir, { recursive: true });
    const sides = sidesOf(result);
    const uris = new Map<string, string>();
    uris.set('source', await pngUri(src, dir, 'source.png'));
    uris.set('overlay', await pngUri(await overlay(src, result, sides), dir, 'overlay.png'));
    for (const s of sides) {
      const grey = await maskToImage(s.side.mask, result.maskSize, src.width, src.height);
      uris.set(s.name, await pngUri(grey, dir, `${s.name}.png`));
      uris.set(`${s.name}-seen`, await pngUri(seenThrough(src, grey), dir, `${s.name}-seen.png`));
    }
    if (outDir) {
      await fs.writeFile(path.join(dir, 'locate.json'), JSON.stringify(locateToJson(result), null, 2) + '\n');
      await fs.rm(path.join(dir, 'source.png'));
      files.push(path.join(dir, 'locate.json'), path.join(dir, 'overlay.png'));
      for (const s of sides) files.push(path.join(dir, `${s.name}.png`), path.join(dir, `${s.name}-seen.png`));
    }
    if (options.html) {
      await fs.writeFile(options.html, html(options.title ?? 'image', result, src, uris, sides));
      files.push(options.html);
    }
  } finally {
    if (!outDir) await fs.rm(dir, { recursive: true, force: true });
  }
  return files;
}
