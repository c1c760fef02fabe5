// Class saliency taken at a deep feature map instead of the pixels.
//
// A class's input gradient costs a backward pass through the whole network,
// most of it in the early, full-resolution convolutions. Where an object is
// does not need that resolution: the network is cut at its first feature map
// of stride 16 (VGG: block4_pool), the image goes once through the lower part,
// and every class back-propagates through the upper part only (block 5 and
// the head), about a tenth of the network's work. Seeing the image through a
// mask works on the same map: the features are multiplied by the mask there
// and only the upper part runs again.
import { Model } from '../models/load';
import { Graph, NodeDef } from '../nn/graph';
import { Network } from '../nn/network';
import { Tensor } from '../tensor';
import type { BackendName } from './runtime';

export interface SplitNetwork {
  /** The input image -> the feature map `cut`. */
  lower: Network;
  /** The feature map (its only input, named `cut`) -> the rest of the network. */
  upper: Network;
  /** The node the network is cut after. */
  cut: string;
  /** Its channels. */
  channels: number;
}

/** The feature map's stride: fine enough to tell objects apart (VGG: block4_pool, 14×14 at 224). */
const STRIDE = 16;

/**
 * The first node of stride STRIDE (more than half of it) after which the network is a chain from
 * that node alone: no later node reads an earlier one.
 */
export function findCut(model: Model): { cut: string; channels: number } {
  const [h, w] = model.inputSize;
  const probe = model.graph.compile();
  let shapes: Record<string, number[]>;
  try {
    shapes = probe.inferShapes({ [model.input]: [1, h, w, 3] });
  } finally {
    probe.dispose();
  }
  const defs = model.graph.nodes();
  const position = new Map(defs.map((d, i) => [d.name, i]));
  const tap = model.logits ?? model.output;
  // earliest[i]: the earliest non-param node read by any op at or after i.
  const earliest = new Array<number>(defs.length + 1).fill(Infinity);
  for (let i = defs.length - 1; i >= 0; --i) {
    let e = earliest[i + 1];
    const d = defs[i];
    if (d.kind === 'op') for (const r of d.inputs) if (defs[position.get(r)!].kind !== 'param') e = Math.min(e, position.get(r)!);
    earliest[i] = e;
  }
  for (let i = 0; i < position.get(tap)!; ++i) {
    const d = defs[i];
    const s = shapes[d.name];
    if (d.kind !== 'op' || s?.length !== 4 || s[1] * STRIDE < h || s[2] * STRIDE < w || s[1] * (STRIDE / 2) >= h) continue;
    if (earliest[i + 1] >= i) return { cut: d.name, channels: s[3] };
  }
  throw new Error(`locate: no feature map of stride ${STRIDE} feeds the rest of the network alone`);
}

/** The model cut at findCut(), compiled (locate keeps it in the tasks' shared cache). */
export async function splitNetwork(model: Model, options: { backend: BackendName; tf32: boolean }): Promise<SplitNetwork> {
  const { cut, channels } = findCut(model);
  const defs = model.graph.nodes();
  const at = defs.findIndex((d) => d.name === cut);
  const used = (ops: readonly NodeDef[]) => new Set(ops.flatMap((d) => (d.kind === 'op' ? d.inputs : [])));
  const lowerOps = defs.slice(0, at + 1).filter((d) => d.kind !== 'param');
  const upperOps = defs.slice(at + 1).filter((d) => d.kind === 'op');
  const lowerUses = used(lowerOps);
  const upperUses = used(upperOps);
  const params = (uses: Set<string>) => defs.filter((d) => d.kind === 'param' && uses.has(d.name));
  const lower = Graph.fromNodes([...params(lowerUses), ...lowerOps]).compile(options);
  const upper = Graph.fromNodes([{ name: cut, kind: 'input', shape: [-1, -1, -1, channels] }, ...params(upperUses), ...upperOps]);
  return { lower, upper: upper.compile(options), cut, channels };
}

/**
 * A class's saliency on the feature map [h, w, C]: |g| summed over the channels at each position,
 * as a pixel-level mask sums |g| over the colours.
 */
export function featureSaliency(grad: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(grad.length / channels);
  for (let p = 0; p < out.length; ++p) {
    let s = 0;
    for (let c = p * channels, e = c + channels; c < e; ++c) s += Math.abs(grad[c]);
    out[p] = s;
  }
  return out;
}

/**
 * An image gradient [1,H,W,3] -> mask [1,H,W,1]: |g| summed over the colours (relu(g) + relu(−g) by
 * two 1×1 convolutions), then the same edge-padded Gaussian blur as upsampleGraph.
 */
export function pixelMaskGraph(sigma: number): Graph {
  const g = new Graph();
  g.input('grad', [1, -1, -1, 3]);
  const split = new Float32Array(18);
  for (let c = 0; c < 3; ++c) {
    split[c * 6 + c] = 1;
    split[c * 6 + 3 + c] = -1;
  }
  g.conv2d('split', 'grad', { kernel: Tensor.from(split, [1, 1, 3, 6]) });
  g.relu('parts', 'split');
  g.conv2d('abs', 'parts', { kernel: Tensor.from(new Float32Array(6).fill(1), [1, 1, 6, 1]) });
  blur(g, 'abs', sigma);
  return g;
}

/** An edge-padded separable Gaussian blur of node `x` [1, H, W, 1] (nothing when sigma is under 1/3 px). */
function blur(g: Graph, x: string, sigma: number): void {
  const r = Math.ceil(3 * sigma);
  if (r < 1) return;
  const k = Float32Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  k.forEach((v, i) => (k[i] = v / sum));
  g.pad('padded', x, { pads: [0, r, r, 0, 0, r, r, 0], mode: 'edge' });
  g.conv2d('blur_x', 'padded', { kernel: Tensor.from(k, [1, 2 * r + 1, 1, 1]) });
  g.conv2d('blur_y', 'blur_x', { kernel: Tensor.from(k, [2 * r + 1, 1, 1, 1]) });
}

/** Upsamples a map [1, h, w, 1] to [1, H, W, 1] (bilinear), then a Gaussian blur with edge-padded borders. */
export function upsampleGraph(height: number, width: number, sigma: number): Graph {
  const g = new Graph();
  g.input('map', [1, -1, -1, 1]);
  g.resizeBilinear('up', 'map', { height, width });
  blur(g, 'up', sigma);
  return g;
}

/** The mean of a mask [H, W] over each cell of an h × w grid laid over it: the mask as the feature map sees it. */
export function downsampleMask(mask: Float32Array, H: number, W: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  const count = new Float32Array(h * w);
  for (let y = 0; y < H; ++y) {
    const i = Math.min(h - 1, Math.floor((y * h) / H));
    for (let x = 0; x < W; ++x) {
      const j = Math.min(w - 1, Math.floor((x * w) / W));
      out[i * w + j] += mask[y * W + x];
      count[i * w + j] += 1;
    }
  }
  return out.map((v, i) => v / Math.max(1, count[i]));
}

/**
 * How much of a mask [H, W] each window of a rows × cols class map sees: windows of the network's
 * input size `field`, spread evenly from the first to the last position.
 */
export function windowMass(mask: Float32Array, H: number, W: number, rows: number, cols: number, field: [number, number]): Float32Array {
  const out = new Float32Array(rows * cols);
  const [fh, fw] = [Math.min(field[0], H), Math.min(field[1], W)];
  const stepY = rows > 1 ? (H - fh) / (rows - 1) : 0;
  const stepX = cols > 1 ? (W - fw) / (cols - 1) : 0;
  for (let r = 0; r < rows; ++r)
    for (let c = 0; c < cols; ++c) {
      const [y0, x0] = [Math.round(r * stepY), Math.round(c * stepX)];
      let s = 0;
      for (let y = y0; y < y0 + fh; ++y) for (let x = x0; x < x0 + fw; ++x) s += mask[y * W + x];
      out[r * cols + c] = s;
    }
  return out;
}
