// Keras model configs (the JSON that TF.js layers models and Keras HDF5 files
// both carry) -> our Graph, keeping Keras layer names.
//
// A layer with a fused activation becomes two nodes: `<name>/linear` (the conv
// or dense) and `<name>` (the activation), so a tap on 'block4_conv1' sees the
// layer's output exactly as Keras defines it. Weights become params named as
// Keras names them ('block1_conv1/kernel', 'block1_conv1/bias').
import { Graph, NodeRef, Padding } from '../../nn/graph';
import { Tensor } from '../../tensor';
import { LoadedModel } from '../types';

/** One weight, already in native memory (loaders decode straight into it). */
export interface KerasWeight {
  shape: number[];
  tensor: Tensor;
}

/**
 * Weights by Keras name ('block1_conv1/kernel'); a loader may name them with or without a ':0' suffix.
 * buildKerasGraph takes them over: the graph's params are these tensors (no copy), and the ones no
 * layer uses are disposed.
 */
export type WeightMap = Map<string, KerasWeight>;

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes?: unknown[];
}

type Cfg = Record<string, unknown>;

function pair(v: unknown, dflt: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1])];
  if (typeof v === 'number') return [v, v];
  return [dflt, dflt];
}

function kerasPadding(v: unknown): Padding {
  return v === 'same' ? 'same' : 'valid';
}

/** Names of the layers feeding this one (functional models); null for sequential configs. */
function inboundNames(layer: LayerJson): string[] | null {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return null;
  const first = nodes[0];
  // Keras 2: [[["name", 0, 0, {}], ...]]; Keras 3: [{"args": [{"config": {"keras_history": ["name", 0, 0]}}]}]
  if (Array.isArray(first)) return first.map((e) => String((e as unknown[])[0]));
  const args = (first as { args?: unknown[] }).args ?? [];
  const names: string[] = [];
  const visit = (a: unknown) => {
    if (Array.isArray(a)) a.forEach(visit);
    else if (a && typeof a === 'object') {
      const hist = (a as { config?: { keras_history?: unknown[] } }).config?.keras_history;
      if (hist) names.push(String(hist[0]));
    }
  };
  visit(args);
  return names;
}

export interface KerasBuildOptions {
  /** Source format recorded in the result. */
  format: 'tfjs' | 'keras';
  /** Where the model came from, for error messages. */
  source: string;
}

/** Builds a Graph from a Keras `model_config` (Sequential or functional `Model`); takes over `weights`. */
export function buildKerasGraph(modelConfig: unknown, weights: WeightMap, options: KerasBuildOptions): LoadedModel {
  const taken = new Set<Tensor>();
  let model: LoadedModel | undefined;
  const at: { layer?: string } = {};
  try {
    model = buildGraph(modelConfig, weights, options, taken, at);
    return model;
  } catch (err) {
    // The graph builder's own checks (an attribute out of range) do not know the file: name it and the layer.
    const who = `${options.format}: ${options.source}`;
    if (err instanceof Error && err.constructor === Error && !err.message.startsWith(who))
      throw new Error(`${who}: layer '${at.layer ?? '?'}': ${err.message}`);
    throw err;
  } finally {
    // What no layer took is freed now; on failure, everything (the graph is dropped).
    for (const w of weights.values()) if (!model || !taken.has(w.tensor)) w.tensor.dispose();
  }
}

function buildGraph(modelConfig: unknown, weights: WeightMap, options: KerasBuildOptions, taken: Set<Tensor>, at: { layer?: string }): LoadedModel {
  const who = `${options.format}: ${options.source}`;
  const cfg = modelConfig as { class_name?: string; config?: unknown };
  if (!cfg || typeof cfg !== 'object' || !cfg.class_name || !cfg.config)
    throw new Error(`${who}: model config is missing class_name/config`);
  const layersRaw = Array.isArray(cfg.config) ? cfg.config : (cfg.config as { layers?: unknown }).layers;
  if (!Array.isArray(layersRaw)) throw new Error(`${who}: model config has no layers`);
  const layers = layersRaw as LayerJson[];

  const g = new Graph();
  const outputOf = new Map<string, NodeRef>();
  const layerNames: string[] = [];
  let last: NodeRef | undefined;
  let inputShape: number[] = [-1, -1, -1, 3];
  let logits: string | undefined;

  const weight = (layer: string, role: string): Tensor => {
    const w = weights.get(`${layer}/${role}`) ?? weights.get(`${layer}/${role}:0`);
    if (!w) throw new Error(`${who}: layer '${layer}' needs weight '${layer}/${role}' which the weights do not contain`);
    taken.add(w.tensor);
    return w.tensor;
  };
  const param = (layer: string, role: string) => g.param(`${layer}/${role}`, weight(layer, role));

  const activation = (name: string, linear: NodeRef, act: unknown): NodeRef => {
    switch (act ?? 'linear') {
      case 'linear':
        return linear;
      case 'relu':
        return g.relu(name, linear);
      case 'relu6':
        return g.relu6(name, linear);
      case 'sigmoid':
        return g.sigmoid(name, linear);
      case 'tanh':
        return g.tanh(name, linear);
      case 'softmax':
        logits = linear;
        return g.softmax(name, linear);
      default:
        throw new Error(`${who}: layer '${name}' uses activation '${String(act)}' which eyecandy does not support`);
    }
  };

  for (const [li, layer] of layers.entries()) {
    if (!layer || typeof layer !== 'object' || !layer.config || typeof layer.config !== 'object' || Array.isArray(layer.config))
      throw new Error(`${who}: layer ${li + 1} of the model config has no config object (got ${JSON.stringify(layer?.config ?? layer)?.slice(0, 80)})`);
    const c = layer.config as Cfg & { name: string };
    const name = c.name ?? layer.name;
    at.layer = String(name);
    const inbound = inboundNames(layer);
    const inputs = inbound ? inbound.map((n) => outputOf.get(n)) : last ? [last] : [];
    if (inputs.some((x) => x === undefined))
      throw new Error(`${who}: layer '${name}' reads from '${inbound!.join("', '")}' which is not defined before it`);
    const x = inputs[0] as NodeRef;
    const act = c.activation;
    let out: NodeRef;
    switch (layer.class_name) {
      case 'InputLayer': {
        const shape = (c.batch_input_shape ?? c.batch_shape) as (number | null)[] | undefined;
        if (shape != null && (!Array.isArray(shape) || !shape.every((d) => d === null || (Number.isInteger(d) && d >= 0))))
          throw new Error(`${who}: layer '${name}' has input shape ${JSON.stringify(shape)}; expected a list of sizes (null for any)`);
        if (shape && shape.length >= 2) inputShape = shape.map((d) => (d === null ? -1 : Number(d)));
        out = g.input(name, inputShape);
        break;
      }
      case 'Conv2D': {
        if (c.data_format === 'channels_first') throw new Error(`${who}: layer '${name}' is channels_first; only channels_last is supported`);
        const lin = act && act !== 'linear' ? `${name}/linear` : name;
        g.conv2d(lin, x, {
          kernel: param(name, 'kernel'),
          bias: c.use_bias === false ? undefined : param(name, 'bias'),
          strides: pair(c.strides, 1),
          dilations: pair(c.dilation_rate, 1),
          padding: kerasPadding(c.padding),
          groups: typeof c.groups === 'number' ? c.groups : 1,
        });
        out = activation(name, lin, act);
        layerNames.push(name);
        break;
      }
      case 'DepthwiseConv2D': {
        const lin = act && act !== 'linear' ? `${name}/linear` : name;
        const k = weight(name, 'depthwise_kernel'); // [KH,KW,C,multiplier] -> HWIO with groups = C
        const [kh, kw, ch, mult] = k.shape;
        const kernel = g.param(`${name}/depthwise_kernel`, k.reshape([kh, kw, 1, ch * mult]));
        g.conv2d(lin, x, {
          kernel,
          bias: c.use_bias === false ? undefined : param(name, 'bias'),
          strides: pair(c.strides, 1),
          dilations: pair(c.dilation_rate, 1),
          padding: kerasPadding(c.padding),
          groups: ch,
        });
        out = activation(name, lin, act);
        layerNames.push(name);
        break;
      }
      case 'Dense': {
        const lin = act && act !== 'linear' ? (act === 'softmax' ? `${name}/logits` : `${name}/linear`) : name;
        g.dense(lin, x, { kernel: param(name, 'kernel'), bias: c.use_bias === false ? undefined : param(name, 'bias') });
        out = activation(name, lin, act);
        layerNames.push(name);
        break;
      }
      case 'Activation':
        out = activation(name, x, act); // 'linear' is the identity: readers use x directly
        break;
      case 'ReLU':
        out = c.max_value === 6 ? g.relu6(name, x) : g.relu(name, x);
        break;
      case 'LeakyReLU':
        out = g.leakyRelu(name, x, { alpha: typeof c.alpha === 'number' ? c.alpha : 0.3 });
        break;
      case 'Softmax':
        logits = x;
        out = g.softmax(name, x, { axis: typeof c.axis === 'number' ? c.axis : -1 });
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const size = pair(c.pool_size, 2);
        const o = { size, strides: c.strides ? pair(c.strides, 1) : size, padding: kerasPadding(c.padding) };
        out = layer.class_name === 'MaxPooling2D' ? g.maxPool(name, x, o) : g.avgPool(name, x, o);
        layerNames.push(name);
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const pooled =
          layer.class_name === 'GlobalAveragePooling2D' ? g.globalAvgPool(`${name}/pool`, x) : g.globalMaxPool(`${name}/pool`, x);
        out = c.keepdims ? g.reshape(name, pooled, [0, 1, 1, -1]) : g.flatten(name, pooled);
        break;
      }
      case 'Flatten':
        out = g.flatten(name, x);
        break;
      case 'Dropout':
        out = x; // inference: identity; downstream layers read the input directly
        break;
      case 'BatchNormalization': {
        const mean = param(name, 'moving_mean');
        const channels = weights.get(`${name}/moving_mean`)?.shape ?? weights.get(`${name}/moving_mean:0`)!.shape;
        out = g.batchNorm(name, x, {
          scale: c.scale === false ? Tensor.from(new Float32Array(channels[0]).fill(1), channels) : param(name, 'gamma'),
          offset: c.center === false ? Tensor.zeros(channels) : param(name, 'beta'),
          mean,
          variance: param(name, 'moving_variance'),
          epsilon: typeof c.epsilon === 'number' ? c.epsilon : 1e-3,
        });
        break;
      }
      case 'ZeroPadding2D': {
        const p = c.padding as unknown;
        const [[t, b], [l, r]] = Array.isArray(p) && Array.isArray(p[0]) ? (p as [[number, number], [number, number]]) : (() => {
          const [h, w] = pair(p, 1);
          return [[h, h], [w, w]] as [[number, number], [number, number]];
        })();
        out = g.pad(name, x, { pads: [0, t, l, 0, 0, b, r, 0] });
        break;
      }
      case 'Add':
      case 'Multiply': {
        let acc = inputs[0] as NodeRef;
        for (let i = 1; i < inputs.length; ++i) {
          const nm = i === inputs.length - 1 ? name : `${name}/${i}`;
          acc = layer.class_name === 'Add' ? g.add(nm, acc, inputs[i] as NodeRef) : g.mul(nm, acc, inputs[i] as NodeRef);
        }
        out = acc;
        break;
      }
      case 'Concatenate':
        out = g.concat(name, inputs as NodeRef[], { axis: typeof c.axis === 'number' ? c.axis : -1 });
        break;
      case 'Reshape':
        out = g.reshape(name, x, [0, ...(c.target_shape as number[])]);
        break;
      default:
        throw new Error(`${who}: layer '${name}' of type ${layer.class_name} is not supported by eyecandy`);
    }
    outputOf.set(name, out);
    last = out;
  }
  if (!last) throw new Error(`${who}: the model has no layers`);
  const input = g.names[0];
  return { graph: g, input, inputShape, output: last, logits, layers: layerNames, format: options.format };
}
