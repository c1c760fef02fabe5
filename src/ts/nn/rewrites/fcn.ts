// Fully convolutional networks: any image size in, a class map out.
//
// toFullyConvolutional rewrites the classifier head: the first dense layer
// after a Flatten of a [h, w, c] map becomes an h×w VALID convolution (its
// [h·w·c, out] kernel viewed as HWIO [h, w, c, out] — Flatten's H, W, C order
// is exactly HWIO's row-major order, so no data moves), and each later dense
// layer a 1×1 convolution. On the nominal input size the map is 1×1 and equals
// the original output; a larger image gives one class vector per window
// position (VGG: a window of 224 px every 32 px).
import { NodeDef, Graph } from '../graph';
import { OP_INFO } from '../ops';
import { Tensor } from '../../tensor';
import { LoadedModel } from '../../models/types';

export interface FullyConvolutionalOptions {
  /**
   * Input height and width the original network was built for, used to find
   * the size of the map that Flatten sees. Default: the model's input shape,
   * else 224×224.
   */
  nominalSize?: [number, number];
}

/** The model with its dense head rewritten as convolutions, so any image size gives a class map (one class vector per window). */
export function toFullyConvolutional(model: LoadedModel, options: FullyConvolutionalOptions = {}): LoadedModel {
  const [, ih, iw, ic] = model.inputShape;
  const [h, w] = options.nominalSize ?? [ih > 0 ? ih : 224, iw > 0 ? iw : 224];
  const probe = model.graph.compile();
  const shapes = probe.inferShapes({ [model.input]: [1, h, w, ic > 0 ? ic : 3] });
  probe.dispose();

  const defs = model.graph.nodes();
  const byName = new Map(defs.map((d) => [d.name, d]));
  const mapNodes = new Set<string>(); // nodes whose output became a class map
  const flattenOf = new Map<string, string>(); // flatten node -> its rank-4 input
  const replacedParams = new Map<string, Tensor>();
  const out: NodeDef[] = [];
  let converted = 0;

  for (const d of defs) {
    if (d.kind !== 'op') {
      out.push(d);
      continue;
    }
    if (d.op === 'flatten' && shapes[d.inputs[0]]?.length === 4) {
      flattenOf.set(d.name, d.inputs[0]);
      out.push(d); // kept for any other reader; dropped below if unused
      continue;
    }
    const src = d.inputs[0];
    if (d.op === 'dense' && (flattenOf.has(src) || mapNodes.has(src))) {
      const kernelName = d.inputs[1];
      const kernelDef = byName.get(kernelName);
      if (!kernelDef || kernelDef.kind !== 'param')
        throw new Error(`toFullyConvolutional: dense '${d.name}' takes its kernel from '${kernelName}', which is not a parameter`);
      const [kin, kout] = kernelDef.value.shape;
      let hwio: number[];
      if (flattenOf.has(src)) {
        const [, mh, mw, mc] = shapes[flattenOf.get(src)!];
        if (mh * mw * mc !== kin)
          throw new Error(`toFullyConvolutional: dense '${d.name}' expects ${kin} features but the flattened map is ${mh}x${mw}x${mc}`);
        hwio = [mh, mw, mc, kout];
      } else {
        hwio = [1, 1, kin, kout];
      }
      replacedParams.set(kernelName, kernelDef.value.reshape(hwio));
      out.push({
        name: d.name,
        kind: 'op',
        op: 'conv2d',
        inputs: [flattenOf.get(src) ?? src, ...d.inputs.slice(1)],
        attrs: { strides: [1, 1], dilations: [1, 1], groups: 1, padMode: 'valid' },
      });
      mapNodes.add(d.name);
      ++converted;
      continue;
    }
    if (d.inputs.some((i) => mapNodes.has(i))) {
      // Pointwise ops act per position, so a class map may pass through them.
      const overClasses = (d.op === 'softmax' || d.op === 'log_softmax') && d.attrs.axis === -1;
      if (!OP_INFO[d.op].pointwise && !overClasses)
        throw new Error(`toFullyConvolutional: node '${d.name}' (${d.op}) cannot take a class map`);
      mapNodes.add(d.name);
    }
    out.push(d);
  }
  if (!converted) throw new Error('toFullyConvolutional: the network has no dense layer after a Flatten of an image map');

  // Drop flattens nobody reads any more; give params their HWIO views; free the input size.
  const used = new Set(out.flatMap((d) => (d.kind === 'op' ? d.inputs : [])));
  const final = out
    .filter((d) => !(d.kind === 'op' && flattenOf.has(d.name) && !used.has(d.name)))
    .map((d): NodeDef => {
      if (d.kind === 'param' && replacedParams.has(d.name)) return { ...d, value: replacedParams.get(d.name)! };
      if (d.kind === 'input' && d.name === model.input) return { ...d, shape: [-1, -1, -1, ic > 0 ? ic : -1] };
      return d;
    });
  return {
    ...model,
    graph: Graph.fromNodes(final),
    inputShape: [-1, -1, -1, ic > 0 ? ic : -1],
  };
}

/**
 * How a class map [1, h, w, K] becomes one score vector:
 * - 'mean_logits' (default): average the logits over positions, then softmax —
 *   a proper distribution that weighs every window equally.
 * - 'max_softmax': softmax at each position, then the maximum over positions —
 *   finds a class that dominates any one window (not a distribution: the
 *   scores need not sum to 1).
 */
export type MapPooling = 'mean_logits' | 'max_softmax';

export function softmax(v: Float32Array | number[]): Float32Array {
  let m = -Infinity;
  for (const x of v) m = Math.max(m, x);
  const out = new Float32Array(v.length);
  let s = 0;
  for (let i = 0; i < v.length; ++i) s += out[i] = Math.exp(v[i] - m);
  for (let i = 0; i < v.length; ++i) out[i] /= s;
  return out;
}

/** Pools class-map logits [positions × K] (row-major, K fastest) into one score vector. */
export function poolClassMap(logits: Float32Array, classes: number, how: MapPooling = 'mean_logits'): Float32Array {
  const positions = logits.length / classes;
  if (!Number.isInteger(positions) || positions < 1)
    throw new Error(`poolClassMap: ${logits.length} values are not a whole number of ${classes}-class vectors`);
  if (how === 'mean_logits') {
    const mean = new Float32Array(classes);
    for (let p = 0; p < positions; ++p) for (let k = 0; k < classes; ++k) mean[k] += logits[p * classes + k] / positions;
    return softmax(mean);
  }
  const best = new Float32Array(classes);
  for (let p = 0; p < positions; ++p) {
    const probs = softmax(logits.subarray(p * classes, (p + 1) * classes));
    for (let k = 0; k < classes; ++k) best[k] = Math.max(best[k], probs[k]);
  }
  return best;
}
