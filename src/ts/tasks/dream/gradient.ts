// Deep Dream's objective and its gradient, computed whole or tile by tile.
//
// The layer objective is Σ_l w_l·Σ A_l² over the chosen channels (dream.ts
// picks w_l; for one layer the gradient points the same way as that of the L2
// norm, and steps are normalised anyway). A tile owns a "core" of the image and
// is run with a margin of context around it; a mask input to the objective
// network keeps only the activations whose position lies in the core. Cores
// partition the image on the grid of the deepest layer's stride, so every
// activation is counted exactly once, and when the margin covers half the
// receptive field each kept activation sees exactly what it sees in the whole
// image: the stitched gradient then equals the untiled one (up to float
// rounding), so no seams can show. Memory follows the tile size, not the image.
import { LoadedModel } from '../../models/types';
import { Network } from '../../nn/network';
import { OP_INFO } from '../../nn/ops';
import { Tensor, tidy } from '../../tensor';
import { throwIfAborted } from '../runtime';

/** Where an op's outputs look in the input: receptive field side and stride, in pixels. */
export interface Field {
  size: number;
  stride: number;
  /** False once something (flatten, dense, global pool, resize) mixes all positions. */
  spatial: boolean;
}


/** Receptive field of every op node fed by the model's input (VGG19 block5_conv1: 156 px, stride 16). */
export function receptiveFields(model: LoadedModel): Map<string, Field> {
  const defs = model.graph.nodes();
  const paramShapes = new Map<string, number[]>();
  for (const d of defs) if (d.kind === 'param') paramShapes.set(d.name, d.value.shape);
  const fields = new Map<string, Field>([[model.input, { size: 1, stride: 1, spatial: true }]]);
  for (const d of defs) {
    if (d.kind !== 'op') continue;
    const ins = d.inputs.map((i) => fields.get(i)).filter((f): f is Field => f !== undefined);
    if (!ins.length) continue;
    const size = Math.max(...ins.map((f) => f.size));
    const stride = Math.max(...ins.map((f) => f.stride));
    let spatial = ins.every((f) => f.spatial);
    let kernel: [number, number] = [1, 1];
    let strides: [number, number] = [1, 1];
    let dilations: [number, number] = [1, 1];
    if (d.op === 'conv2d') {
      // An unknown kernel (weights computed by the graph) is taken as 3x3.
      const k = paramShapes.get(d.inputs[1]);
      kernel = k ? [k[0], k[1]] : [3, 3];
      strides = d.attrs.strides;
      dilations = d.attrs.dilations;
    } else if (d.op === 'max_pool' || d.op === 'avg_pool') {
      kernel = d.attrs.kernel;
      strides = d.attrs.strides;
      dilations = d.attrs.dilations;
    } else if (!OP_INFO[d.op].spatial) {
      // The window ops are the branches above; what is left keeps positions only if spatial.
      spatial = false;
    }
    const reach = Math.max((kernel[0] - 1) * dilations[0], (kernel[1] - 1) * dilations[1]);
    fields.set(d.name, { size: size + reach * stride, stride: stride * Math.max(strides[0], strides[1]), spatial });
  }
  return fields;
}

/** One tile along an axis: it runs on [start, end) and owns the core [coreStart, coreEnd). */
export interface Span {
  start: number;
  end: number;
  coreStart: number;
  coreEnd: number;
}

const floorTo = (v: number, a: number): number => Math.floor(v / a) * a;

/**
 * Splits [0, length) into cores on multiples of `align`, each with `margin` of context
 * (clipped at the ends) so that no tile is longer than `tile`. Cores come out about equal.
 */
export function planAxis(length: number, tile: number, margin: number, align: number): Span[] {
  if (length <= tile) return [{ start: 0, end: length, coreStart: 0, coreEnd: length }];
  const edgeCap = floorTo(tile - margin, align);
  const midCap = floorTo(tile - 2 * margin, align);
  if (midCap < align) throw new Error(`dream: tile ${tile} leaves no core with margin ${margin} on a grid of ${align}`);
  for (let k = 2; ; ++k) {
    const caps = [edgeCap, ...new Array<number>(k - 2).fill(midCap), edgeCap];
    const total = caps.reduce((a, b) => a + b, 0);
    if (total < length) continue;
    const bounds = [0];
    let acc = 0;
    for (let i = 0; i < k - 1; ++i) {
      acc += caps[i];
      bounds.push(floorTo((acc * length) / total, align));
    }
    bounds.push(length);
    if (caps.every((cap, i) => bounds[i + 1] > bounds[i] && bounds[i + 1] - bounds[i] <= cap))
      return caps.map((_, i) => ({
        start: Math.max(0, bounds[i] - margin),
        end: Math.min(length, bounds[i + 1] + margin),
        coreStart: bounds[i],
        coreEnd: bounds[i + 1],
      }));
  }
}

/** Starts of `size`-long windows covering [0, length) with the overlap spread evenly. */
export function windowStarts(length: number, size: number): number[] {
  if (length < size) return [];
  const n = Math.ceil(length / size);
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.round((i * (length - size)) / (n - 1))));
}

/** One layer of the objective: in the objective network, `sumTap` = Σ (A · core · channels)². */
export interface LayerTerm {
  layer: string;
  /** Stride of the layer's grid in input pixels. */
  stride: number;
  /** The input fed with the tile's core mask, [1, h, w, 1] on the layer's grid. */
  coreInput: string;
  sumTap: string;
}

export interface ObjectiveContext {
  /** The model's spatial layers with the objective's nodes (see LayerTerm); inputs: image and core masks. */
  net: Network;
  /** The spatial layers alone, for their shapes at any size. */
  shapes: Network;
  /** The whole model, for class windows. */
  classNet: Network;
  input: string;
  terms: LayerTerm[];
  /** A class to raise, through windows of the network's own input size. */
  classIndex?: number;
  logitsTap: string;
  classWindow: [number, number];
  /** Weight of each term's Σ A²; default 1/N_l (the mean square of each layer). */
  weights?: number[];
  tileSize: number;
  margin: number;
  /** Core boundaries fall on multiples of this (the deepest layer's stride). */
  align: number;
  signal?: AbortSignal;
}

export interface Evaluation {
  /** d(objective)/d(input), [1,H,W,3], when asked for. */
  grad?: Tensor;
  /** Σ A² over the layers' chosen channels (the objective's L2 norm squared). */
  sumSquares: number;
  /** The same, per term. */
  layerSums: number[];
  /** Mean of the class logit over the windows (class objectives only). */
  classLogit?: number;
  /** Forward passes run. */
  tiles: number;
}

function crop(src: Float32Array, width: number, y0: number, y1: number, x0: number, x1: number): Float32Array {
  const w = x1 - x0;
  const out = new Float32Array((y1 - y0) * w * 3);
  for (let y = y0; y < y1; ++y) out.set(src.subarray((y * width + x0) * 3, (y * width + x1) * 3), (y - y0) * w * 3);
  return out;
}

function addInto(dst: Float32Array, width: number, part: Float32Array, y0: number, x0: number, h: number, w: number): void {
  for (let y = 0; y < h; ++y) {
    const d = ((y0 + y) * width + x0) * 3;
    const s = y * w * 3;
    for (let i = 0; i < w * 3; ++i) dst[d + i] += part[s + i];
  }
}

/** One tile's layer terms: Σ A² over its core, and the gradient of Σ_l weight_l·Σ A_l² there. */
async function layerTile(
  ctx: ObjectiveContext,
  pixels: Float32Array,
  [H, W]: [number, number],
  r: Span,
  c: Span,
  weights: number[],
  withGrad: boolean,
): Promise<{ sums: number[]; grad?: Float32Array }> {
  const h = r.end - r.start;
  const w = c.end - c.start;
  const feeds: Record<string, Tensor> = { [ctx.input]: Tensor.from(crop(pixels, W, r.start, r.end, c.start, c.end), [1, h, w, 3]) };
  const shapes = ctx.shapes.inferShapes({ [ctx.input]: [1, h, w, 3] });
  for (const t of ctx.terms) {
    const [, ah, aw] = shapes[t.layer];
    // The core on the layer's grid; a core that ends at the image's edge owns the rest of the map.
    const y0 = (r.coreStart - r.start) / t.stride;
    const y1 = r.coreEnd === H ? ah : Math.min(ah, (r.coreEnd - r.start) / t.stride);
    const x0 = (c.coreStart - c.start) / t.stride;
    const x1 = c.coreEnd === W ? aw : Math.min(aw, (c.coreEnd - c.start) / t.stride);
    const core = new Float32Array(ah * aw);
    for (let y = y0; y < y1; ++y) core.fill(1, y * aw + x0, y * aw + x1);
    feeds[t.coreInput] = Tensor.from(core, [1, ah, aw, 1]);
  }
  const taps = ctx.terms.map((t) => t.sumTap);
  if (!withGrad) {
    const out = await ctx.net.forward(feeds, { taps });
    return { sums: taps.map((t) => out[t].item()) };
  }
  const seeds = Object.fromEntries(ctx.terms.map((t, i) => [t.sumTap, weights[i]]));
  const { taps: out, gradients } = await ctx.net.gradient(feeds, seeds, { taps });
  return { sums: taps.map((t) => out[t].item()), grad: gradients[0].inputs[ctx.input].data() };
}

/** One window's class logit, and its gradient seeded with `seedValue`. */
async function classWindow(
  ctx: ObjectiveContext,
  pixels: Float32Array,
  W: number,
  y0: number,
  x0: number,
  seedValue: number,
  withGrad: boolean,
): Promise<{ logit: number; grad?: Float32Array }> {
  const [wh, ww] = ctx.classWindow;
  const input = Tensor.from(crop(pixels, W, y0, y0 + wh, x0, x0 + ww), [1, wh, ww, 3]);
  const taps = [ctx.logitsTap];
  if (!withGrad) return { logit: (await ctx.classNet.forward(input, { taps }))[ctx.logitsTap].data()[ctx.classIndex!] };
  const { taps: out, gradients } = await ctx.classNet.gradient(
    input,
    (t) => {
      const seed = new Float32Array(t[ctx.logitsTap].size);
      seed[ctx.classIndex!] = seedValue;
      return { [ctx.logitsTap]: Tensor.from(seed, t[ctx.logitsTap].shape) };
    },
    { taps },
  );
  return { logit: out[ctx.logitsTap].data()[ctx.classIndex!], grad: gradients[0].inputs[ctx.input].data() };
}

/**
 * The objective at x ([1,H,W,3], network input values) and, with `withGrad`, its gradient:
 * tile by tile when x is larger than the tile size, each tile's forward and backward as one unit
 * (Network.gradient), so dreams sharing a network do not mix their tiles.
 */
export async function evaluate(ctx: ObjectiveContext, x: Tensor, withGrad: boolean): Promise<Evaluation> {
  const [, H, W] = x.shape;
  const pixels = x.data();
  const grad = withGrad ? new Float32Array(pixels.length) : undefined;
  const layerSums = ctx.terms.map(() => 0);
  let tiles = 0;
  if (ctx.terms.length) {
    // Without given weights each layer weighs 1/N_l (N_l: its chosen elements over the whole
    // image). Either way every tile uses the same weights, so the tiles add up to the whole.
    const shapes = ctx.shapes.inferShapes({ [ctx.input]: [1, H, W, 3] });
    const weights = ctx.terms.map((t, i) => {
      if (ctx.weights) return ctx.weights[i];
      const [, h, w, c] = shapes[t.layer];
      return 1 / Math.max(1, h * w * c);
    });
    const rows = planAxis(H, ctx.tileSize, ctx.margin, ctx.align);
    const cols = planAxis(W, ctx.tileSize, ctx.margin, ctx.align);
    for (const r of rows)
      for (const c of cols) {
        throwIfAborted(ctx.signal);
        const part = await tidy(() => layerTile(ctx, pixels, [H, W], r, c, weights, withGrad));
        part.sums.forEach((v, i) => (layerSums[i] += v));
        if (grad && part.grad) addInto(grad, W, part.grad, r.start, c.start, r.end - r.start, c.end - c.start);
        ++tiles;
      }
  }
  let classLogit: number | undefined;
  if (ctx.classIndex !== undefined) {
    const ys = windowStarts(H, ctx.classWindow[0]);
    const xs = windowStarts(W, ctx.classWindow[1]);
    const count = ys.length * xs.length;
    let total = 0;
    for (const y0 of ys)
      for (const x0 of xs) {
        throwIfAborted(ctx.signal);
        const part = await tidy(() => classWindow(ctx, pixels, W, y0, x0, 1 / count, withGrad));
        total += part.logit;
        if (grad && part.grad) addInto(grad, W, part.grad, y0, x0, ctx.classWindow[0], ctx.classWindow[1]);
        ++tiles;
      }
    if (count) classLogit = total / count;
  }
  // Buffers sized for one tile shape are of little use to the next image size: hand them back.
  await ctx.net.release();
  if (ctx.classIndex !== undefined) await ctx.classNet.release();
  const sumSquares = layerSums.reduce((a, b) => a + b, 0);
  return { grad: grad && Tensor.from(grad, [1, H, W, 3]), sumSquares, layerSums, classLogit, tiles };
}
