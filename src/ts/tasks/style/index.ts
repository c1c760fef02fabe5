// style: neural style transfer after Gatys, Ecker & Bethge (2016). The image
// is optimised in the network's input space so that its features at the content
// layers match the content photo's and its Gram matrices at the style layers
// match the style image(s)', with a total-variation term against pixel noise.
//
// Note [Loss scales]: every term is made relative so that one set of weights
// suits every model, layer and image size: content is the RMS error over the RMS
// of the target features, style the mean squared Gram error over the mean square
// of the target Gram, TV the mean squared neighbour difference over the squared
// pixel range. A term's weight is then simply a backward seed (see network.ts).
import { keepColours } from '../../image/colour';
import { Image, resizeImage } from '../../image/io';
import { noiseImage } from '../../image/noise';
import { axpy, scale } from '../../linalg';
import { Model } from '../../models/load';
import { imageToInput, inputRange } from '../../models/preprocess';
import { Graph } from '../../nn/graph';
import { Network } from '../../nn/network';
import { OP_INFO } from '../../nn/ops';
import { featureGraph } from '../../nn/rewrites/features';
import { abortError, adam, lbfgs, OptimizeResult, StopReason } from '../../optim';
import { rms } from '../../optim/lbfgs';
import { Tensor } from '../../tensor';
import { invalidParameterError } from '../../validate';
import { ImageSource, inputToImage, readSource, taskModel, throwIfAborted } from '../runtime';
import { checkStyleOptions, CheckedStyleOptions, StyleImage, StyleOptions, StyleProgress, WHO } from './options';

/** Weighted loss terms (see Note [Loss scales]); total is their sum. */
export interface StyleLosses {
  total: number;
  content: number;
  style: number;
  tv: number;
}

export interface ScaleReport {
  size: [number, number];
  iterations: number;
  stopped: StopReason;
  initial: StyleLosses;
  final: StyleLosses;
}

/** What `style` returns: the image and how the losses fell. */
export interface StyleResult {
  image: Image;
  /** Losses at the first evaluation of the first scale and at the result. */
  losses: { initial: StyleLosses; final: StyleLosses };
  /** Per scale: its [height, width], iterations run, why the optimizer stopped, losses at its start and end. */
  scales: ScaleReport[];
  /** Iterations over all scales. */
  iterations: number;
  /** Wall time of the whole call, reading the images and loading the model included. */
  seconds: number;
}

export type { ImageSource };
export type { StyleImage, StyleOptions, StyleProgress };

type Weighted = { image: Image; weight: number };

/** Layers that a task can tap at any input size: those whose ancestors all keep a feature map. */
function spatialLayers(model: Model): Set<string> {
  const spatial = new Set<string>([model.input]);
  const params = new Set<string>();
  for (const d of model.graph.nodes()) {
    if (d.kind === 'param') params.add(d.name);
    // Spatial ops keep an NHWC feature map: a layer after any other op (flatten, dense) cannot be tapped at any size.
    if (d.kind === 'op' && OP_INFO[d.op].spatial && d.inputs.every((i) => spatial.has(i) || params.has(i))) spatial.add(d.name);
  }
  return new Set(model.layers.filter((l) => spatial.has(l)));
}

/** [height, width] with the longer side `side`, the shorter at least 16 (VGG pools four times). */
function fit(img: Image, side: number): [number, number] {
  const k = side / Math.max(img.width, img.height);
  return [Math.max(16, Math.round(img.height * k)), Math.max(16, Math.round(img.width * k))];
}

function resized(img: Image, [height, width]: [number, number]): Promise<Image> {
  return resizeImage(img, { width, height, mode: 'squash' });
}

/** The feature graph with a Gram node per style layer: `gram/<layer>`. */
function targetGraph(model: Model, styleLayers: string[]): Graph {
  const g = featureGraph(model);
  styleLayers.forEach((l) => g.gram(`gram/${l}`, l));
  return g;
}

/** Style Grams of every style image (resized to the longer side `side`), blended by weight. */
async function styleTargets(net: Network, model: Model, styles: Weighted[], side: number, layers: string[]) {
  const total = styles.reduce((a, s) => a + s.weight, 0);
  const sums = new Map<string, Tensor>();
  for (const s of styles.filter((s) => s.weight > 0)) {
    const input = imageToInput(await resized(s.image, fit(s.image, side)), model.preprocess);
    const out = await net.forward(input, { taps: layers.map((l) => `gram/${l}`) });
    input.dispose();
    for (const l of layers) {
      const gram = out[`gram/${l}`];
      const acc = sums.get(l);
      if (acc) {
        axpy(s.weight / total, gram, acc);
        gram.dispose();
      } else {
        scale(gram, s.weight / total);
        sums.set(l, gram);
      }
    }
  }
  return sums;
}

/** A depthwise [KH, KW, 1, 3] kernel of +1 then -1: neighbour differences per channel, for TV. */
function differenceKernel(vertical: boolean): Tensor {
  return Tensor.from([1, 1, 1, -1, -1, -1], vertical ? [2, 1, 1, 3] : [1, 2, 1, 3]);
}

type Term = { tap: string; kind: 'content' | 'style' | 'tv'; weight: number };

/** The loss network at one scale: targets as params, terms weighted by their backward seeds (Note [Loss scales]). */
async function lossNetwork(c: CheckedStyleOptions, model: Model, targets: Network, content: Image, styles: Weighted[], hw: [number, number]) {
  const g = targetGraph(model, c.styleLayers);
  const owned: Tensor[] = [];
  const terms: Term[] = [];
  if (c.contentWeight > 0) {
    const input = imageToInput(await resized(content, hw), model.preprocess);
    const feats = await targets.forward(input, { taps: c.contentLayers });
    input.dispose();
    for (const l of c.contentLayers) {
      owned.push(feats[l]);
      g.param(`target/content/${l}`, feats[l]);
      g.rmsLoss(`loss/content/${l}`, l, `target/content/${l}`);
      const weight = c.contentWeight / c.contentLayers.length / Math.max(rms(feats[l]), 1e-12);
      terms.push({ tap: `loss/content/${l}`, kind: 'content', weight });
    }
  }
  if (c.styleWeight > 0) {
    const grams = await styleTargets(targets, model, styles, Math.round(Math.max(...hw) * c.styleScale), c.styleLayers);
    const sum = c.layerWeights.reduce((a, b) => a + b, 0) || 1;
    c.styleLayers.forEach((l, i) => {
      const t = grams.get(l)!;
      owned.push(t);
      if (!c.layerWeights[i]) return;
      g.param(`target/gram/${l}`, t);
      g.mseLoss(`loss/style/${l}`, `gram/${l}`, `target/gram/${l}`);
      const weight = (c.styleWeight * c.layerWeights[i]) / sum / Math.max(rms(t) ** 2, 1e-24);
      terms.push({ tap: `loss/style/${l}`, kind: 'style', weight });
    });
  }
  if (c.tvWeight > 0) {
    const { lo, hi } = inputRange(model.preprocess);
    const range2 = lo.reduce((a, l, i) => a + (hi[i] - l) ** 2, 0) / lo.length;
    const [h, w] = hw;
    for (const [axis, count] of [['y', (h - 1) * w * 3], ['x', h * (w - 1) * 3]] as const) {
      const kernel = differenceKernel(axis === 'y');
      owned.push(kernel);
      g.conv2d(`tv/d${axis}`, model.input, { kernel, groups: 3 });
      g.sumSquares(`loss/tv/${axis}`, `tv/d${axis}`);
      terms.push({ tap: `loss/tv/${axis}`, kind: 'tv', weight: c.tvWeight / Math.max(count, 1) / range2 });
    }
  }
  return { net: g.compile({ backend: c.backend, tf32: c.tf32 }), terms, owned };
}

/**
 * [async] Renders `content` in the style of `styles` (one image, or several blended by weight).
 * Every option is checked first; then the images are read (rejecting with the image module's
 * errors), the model loaded and the layer names checked, all before the first network evaluation.
 * Rejects with an AbortError ('style: aborted') once `signal` aborts.
 */
export async function style(
  content: ImageSource,
  styles: ImageSource | (ImageSource | StyleImage)[],
  options: StyleOptions = {},
): Promise<StyleResult> {
  const start = Date.now();
  const c = checkStyleOptions(content, styles, options);
  const { onProgress } = options;
  const signal = c.signal;
  throwIfAborted(signal, WHO);
  const contentImage = await readSource(content);
  const styleImages = await Promise.all(c.styleImages.map(async (s) => ({ image: await readSource(s.image), weight: s.weight })));
  const initImage = c.init === 'noise' || c.init === 'content' ? undefined : await readSource(c.init);
  const model = await taskModel(c.model, c.load);
  const layers = spatialLayers(model);
  for (const [name, list] of [['contentLayers', c.contentLayers], ['styleLayers', c.styleLayers]] as const)
    list.forEach((l, i) => {
      if (!layers.has(l)) throw invalidParameterError(WHO, `${name}[${i}]`, "one of the model's layers", l);
    });

  // Pixels stay in 0..255: the optimizers keep x inside the input range of each channel.
  const bounds = inputRange(model.preprocess);
  const targets = targetGraph(model, c.styleLayers).compile({ backend: c.backend, tf32: c.tf32 });
  const report: ScaleReport[] = [];
  let image: Image | undefined;
  try {
    for (let k = 0; k < c.scales.length; ++k) {
      throwIfAborted(signal, WHO);
      const hw = fit(contentImage, c.scales[k]);
      const from = image ?? (c.init === 'noise' ? noiseImage(hw, c.seed) : c.init === 'content' ? contentImage : initImage!);
      const hostX0 = imageToInput(await resized(from, hw), model.preprocess);
      const { net, terms, owned } = await lossNetwork(c, model, targets, contentImage, styleImages, hw);
      // The targets exist now: the target network's buffer pool would only sit beside the loss network's.
      await targets.release();
      // On a GPU the image, its gradient and the optimizer's vectors stay in device memory.
      const onDevice = net.backend === 'cuda';
      const x0 = hostX0.to(onDevice ? 'cuda' : 'cpu');
      if (x0 !== hostX0) hostX0.dispose();
      const seeds = Object.fromEntries(terms.map((t) => [t.tap, t.weight]));
      const evals: StyleLosses[] = [];
      const objective = async (x: Tensor) => {
        const { taps: out, gradients } = await net.gradient(x, seeds, { taps: terms.map((t) => t.tap), onDevice });
        const l: StyleLosses = { total: 0, content: 0, style: 0, tv: 0 };
        for (const t of terms) {
          l[t.kind] += out[t.tap].item() * t.weight;
          out[t.tap].dispose();
        }
        l.total = l.content + l.style + l.tv;
        evals.push(l);
        return { loss: l.total, grad: gradients[0].input! };
      };
      // Both optimizers report right after evaluating the point they report, so evals' last entry is its terms.
      const onIteration = async (iteration: number, loss: number, x: Tensor) => {
        const l = evals[evals.length - 1];
        await onProgress?.({
          ...{ scale: k, scales: c.scales.length, size: hw, iteration, iterations: c.iterations[k], loss },
          ...{ contentLoss: l.content, styleLoss: l.style, tvLoss: l.tv },
          ...(c.progressImages ? { image: inputToImage(x, model.preprocess) } : {}),
        });
      };
      let res: OptimizeResult;
      try {
        const common = { maxIterations: c.iterations[k], bounds, signal, onIteration };
        const learningRate = (c.learningRate * (bounds.hi[0] - bounds.lo[0])) / 255; // pixel levels -> input units
        res =
          c.optimizer === 'lbfgs' ? await lbfgs(objective, x0, common) : await adam(objective, x0, { ...common, learningRate });
      } catch (err) {
        if ((err as Error).name === 'AbortError' && signal?.aborted) throw abortError(WHO, signal);
        throw err;
      } finally {
        x0.dispose();
        net.dispose();
        owned.forEach((t) => t.dispose());
      }
      image = inputToImage(res.x, model.preprocess);
      res.x.dispose();
      const final = [...evals].reverse().find((e) => e.total === res.loss) ?? evals[evals.length - 1];
      report.push({ size: hw, iterations: res.iterations, stopped: res.reason, initial: evals[0], final });
    }
  } finally {
    targets.dispose();
  }
  if (c.preserveColors) image = keepColours(image!, await resized(contentImage, [image!.height, image!.width]));
  return {
    image: image!,
    losses: { initial: report[0].initial, final: report[report.length - 1].final },
    scales: report,
    iterations: report.reduce((a, r) => a + r.iterations, 0),
    seconds: (Date.now() - start) / 1000,
  };
}
