// dream's model preparation: the compiled free-size network, cached per model
// and backend (see runtime.ts), and the objective (layers, channels, class)
// resolved against the model.
import { Image } from '../../image/io';
import { Model } from '../../models/load';
import { Graph, NodeDef } from '../../nn/graph';
import { Network } from '../../nn/network';
import { featureGraph } from '../../nn/rewrites/features';
import { Tensor } from '../../tensor';
import { checkInteger, invalidParameterError } from '../../validate';
import { taskCached } from '../runtime';
import { Field, LayerTerm, ObjectiveContext, receptiveFields } from './gradient';
import { CheckedOptions } from './options';

const WHO = 'dream';
/**
 * VGG16/19 layers that give the classic look on photos: block5_conv2 grows dog faces and eyes at
 * the scale of objects, block4_conv3 adds eyes, fur and swirls at the scale of texture. (block4
 * alone is mostly concentric eyes; block5_conv3 and deeper smear the photo into animal bodies.)
 */
export const DEFAULT_VGG_LAYERS = ['block4_conv3', 'block5_conv2'];

export interface Prepared {
  model: Model;
  fields: Map<string, Field>;
  /** The graph's nodes up to its last spatial layer (with the weights they use). */
  spatial: readonly NodeDef[];
  /** Those nodes compiled, for shapes at any size (never run). */
  shapeNet: Network;
  /** The whole graph (class windows, at the nominal size). */
  classNet: Network;
  /** Node shapes at the model's nominal input size. */
  shapes: Record<string, number[]>;
}

/** The model and its networks, kept as long as the model (per model and backend). */
export function prepareDream(o: CheckedOptions): Promise<Prepared> {
  return taskCached(o.model, o.load, `dream|${o.backend}`, (model): Prepared => {
    const fields = receptiveFields(model);
    const whole = featureGraph(model);
    // Weights are shared, not copied: every network built from these nodes costs no weight memory.
    const spatial = whole.nodes().filter((d) => d.kind !== 'op' || fields.get(d.name)?.spatial);
    const classNet = whole.compile({ backend: o.backend });
    const [h, w] = model.inputSize;
    const shapes = classNet.inferShapes({ [model.input]: [1, h, w, 3] });
    const shapeNet = Graph.fromNodes(spatial).compile({ backend: o.backend });
    return { model, fields, spatial, shapeNet, classNet, shapes };
  });
}

/** The nodes that `layers` depend on (in their order): the graph cut after those layers. */
function upTo(nodes: readonly NodeDef[], layers: string[]): NodeDef[] {
  const byName = new Map(nodes.map((d) => [d.name, d]));
  const keep = new Set<string>();
  const visit = (name: string): void => {
    if (keep.has(name)) return;
    keep.add(name);
    const d = byName.get(name);
    if (d?.kind === 'op') d.inputs.forEach(visit);
  };
  layers.forEach(visit);
  return nodes.filter((d) => keep.has(d.name));
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
const roundUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const floorTo = (v: number, a: number): number => Math.floor(v / a) * a;

/** The layers used when none are named: VGG's classic pair, else the spatial layer 70% of the way in. */
function defaultLayers(p: Prepared): string[] {
  if (DEFAULT_VGG_LAYERS.every((l) => p.fields.get(l)?.spatial)) return DEFAULT_VGG_LAYERS;
  const spatial = p.model.layers.filter((l) => p.fields.get(l)?.spatial && p.shapes[l]?.length === 4);
  if (!spatial.length) throw new Error(`dream: model '${p.model.name}' has no spatial layers to dream with; name layers`);
  return [spatial[Math.floor(0.7 * (spatial.length - 1))]];
}

function checkLayer(p: Prepared, name: string, layer: string): Field {
  const f = p.model.input === layer ? undefined : p.fields.get(layer);
  if (!f) throw invalidParameterError(WHO, name, "one of the model's layers", layer);
  if (!f.spatial || p.shapes[layer]?.length !== 4)
    throw invalidParameterError(WHO, name, 'a layer with a spatial [1,H,W,C] output', layer);
  return f;
}

/** Resolves layers, channels and class against the model and the image; builds the objective. */
export function resolveObjective(
  p: Prepared,
  o: CheckedOptions,
  img: Image,
): { ctx: ObjectiveContext; minSide: number; layers: string[]; dispose: () => void } {
  const named = o.layers ?? (o.channels || o.classIndex !== undefined ? [] : defaultLayers(p));
  const masks = new Map<string, Uint8Array>();
  for (const [layer, list] of o.channels ?? []) {
    checkLayer(p, 'channels', layer);
    const count = p.shapes[layer][3];
    const mask = new Uint8Array(count);
    list.forEach((c, i) => (mask[checkInteger(WHO, `channels.${layer}[${i}]`, c, 0, count - 1)] = 1));
    masks.set(layer, mask);
  }
  const layers = [...new Set([...named, ...masks.keys()])];
  const fields = layers.map((layer, i) => checkLayer(p, i < named.length ? `layers[${i}]` : 'channels', layer));
  const size = Math.max(0, ...fields.map((f) => f.size));
  const logitsTap = p.model.logits ?? p.model.output;
  if (o.classIndex !== undefined) {
    const classes = p.shapes[logitsTap]?.[p.shapes[logitsTap].length - 1] ?? 0;
    checkInteger(WHO, 'classIndex', o.classIndex, 0, classes - 1);
  }
  // Tile cores start on the common grid of every layer (VGG: powers of two, so the deepest stride).
  const align = fields.reduce((a, f) => (a * f.stride) / gcd(a, f.stride), 1);
  let margin = roundUp(o.tileMargin ?? Math.ceil(size / 2), align);
  margin = Math.max(0, Math.min(margin, floorTo((o.tileSize - roundUp(Math.max(align, o.tileSize / 4), align)) / 2, align)));
  const [ch, cw] = p.model.inputSize;
  const minSide = Math.max(layers.length ? Math.max(16, 2 * align) : 0, o.classIndex !== undefined ? Math.max(ch, cw) : 0);
  if (Math.min(img.width, img.height) < minSide) {
    const what = o.classIndex !== undefined ? `classIndex (windows of ${cw}x${ch})` : `layer ${layers[layers.length - 1]}`;
    throw new Error(`dream: the image is ${img.width}x${img.height} but ${what} needs at least ${minSide} pixels on each side`);
  }
  // The objective's nodes: per layer, Σ (A · core mask · channel mask)², a scalar to seed.
  const g = Graph.fromNodes(p.spatial);
  const owned: Tensor[] = [];
  const terms: LayerTerm[] = layers.map((layer, i) => {
    const coreInput = g.input(`dream/core/${i}`, [1, -1, -1, 1]);
    let x = g.mul(`dream/core-only/${i}`, layer, coreInput);
    const mask = masks.get(layer);
    if (mask) {
      owned.push(Tensor.from(Float32Array.from(mask), [mask.length]));
      x = g.mul(`dream/chosen/${i}`, x, g.param(`dream/channels/${i}`, owned[owned.length - 1]));
    }
    return { layer, stride: fields[i].stride, coreInput, sumTap: g.sumSquares(`dream/sum/${i}`, x) };
  });
  const net = g.compile({ backend: o.backend });
  // Shapes at the tile sizes come from the network cut at the dream layers: later spatial layers
  // (e.g. MobileNet's 7x7 average pool) cannot take the small maps of a small image or tile.
  const shapeNet = layers.length ? Graph.fromNodes(upTo(p.spatial, layers)).compile({ backend: o.backend }) : p.shapeNet;
  const ctx: ObjectiveContext = {
    net,
    shapes: shapeNet,
    classNet: p.classNet,
    input: p.model.input,
    terms,
    classIndex: o.classIndex,
    logitsTap,
    classWindow: [ch, cw],
    tileSize: o.tileSize,
    margin,
    align,
    signal: o.signal,
  };
  const dispose = (): void => {
    net.dispose();
    if (shapeNet !== p.shapeNet) shapeNet.dispose();
    owned.forEach((t) => t.dispose());
  };
  return { ctx, minSide, layers, dispose };
}
