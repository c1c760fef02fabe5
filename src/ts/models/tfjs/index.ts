// TF.js layers models: model.json (Keras topology + weight manifest) and
// binary weight shards, including uint8/uint16 affine-quantized and float16
// weights. Graph models (converted SavedModels) are refused by name.
import * as fs from 'fs';
import * as path from 'path';

import { Tensor, ValueEncoding } from '../../tensor';
import { buildKerasGraph, WeightMap } from '../keras/json';
import { LoadedModel } from '../types';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

function bytesPer(who: string, spec: WeightSpec): number {
  const q = spec.quantization?.dtype;
  if (q === 'uint8') return 1;
  if (q === 'uint16' || q === 'float16') return 2;
  if (spec.dtype === 'float32' || spec.dtype === 'int32') return 4;
  throw new Error(`${who}: weight '${spec.name}' has dtype ${spec.dtype}${q ? ` quantized as ${q}` : ''}; expected float32, int32 or uint8/uint16/float16 quantization`);
}

/** How a weight's bytes decode (see ValueEncoding), with its scale and min for affine quantization. */
function encodingOf(who: string, spec: WeightSpec): [ValueEncoding, number?, number?] {
  const q = spec.quantization;
  if (q?.dtype === 'uint8' || q?.dtype === 'uint16') {
    if (typeof q.scale !== 'number' || typeof q.min !== 'number' || !Number.isFinite(q.scale) || !Number.isFinite(q.min))
      throw new Error(`${who}: weight '${spec.name}' is ${q.dtype}-quantized but lacks scale/min`);
    return [q.dtype, q.scale, q.min];
  }
  if (q?.dtype === 'float16') return ['float16'];
  return [spec.dtype === 'int32' ? 'int32' : 'float32'];
}

/**
 * Decodes one weight group's byte stream, shard by shard, straight into native tensors: only one
 * shard is in JS memory at a time and no decoded weight exists as a JS array.
 */
async function readGroup(who: string, dir: string, gi: number, group: ManifestGroup, weights: WeightMap): Promise<void> {
  if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights))
    throw new Error(`${who}: weight group ${gi + 1} lacks its paths and weights lists`);
  const sizes: number[] = [];
  for (const p of group.paths) {
    if (typeof p !== 'string' || !p)
      throw new Error(`${who}: weight group ${gi + 1} lists a shard path ${JSON.stringify(p)}; expected a file name`);
    try {
      sizes.push((await fs.promises.stat(path.join(dir, p))).size);
    } catch (err) {
      throw new Error(`${who} lists weight shard '${p}' which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const held = sizes.reduce((a, b) => a + b, 0);
  const plan = group.weights.map((spec, i) => {
    if (!spec || typeof spec !== 'object' || typeof spec.name !== 'string')
      throw new Error(`${who}: weight ${i + 1} of group ${gi + 1} is ${JSON.stringify(spec)?.slice(0, 80)}; expected an object with a name, shape and dtype`);
    if (spec.quantization !== undefined && (spec.quantization === null || typeof spec.quantization !== 'object'))
      throw new Error(`${who}: weight '${spec.name}' has quantization ${JSON.stringify(spec.quantization)}; expected an object`);
    if (!Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new Error(`${who}: weight '${spec.name}' has shape ${JSON.stringify(spec.shape)}; expected non-negative integers`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    return { spec, count, width: bytesPer(who, spec), encoding: encodingOf(who, spec) };
  });
  const need = plan.reduce((a, w) => a + w.count * w.width, 0);
  if (need !== held)
    throw new Error(`${who}: weight group ${gi + 1} holds ${held} bytes but its ${group.weights.length} weights need ${need}`);

  let wi = 0; // the weight being filled
  let written = 0; // its elements written so far
  let target: Tensor | undefined;
  let carry = Buffer.alloc(0); // bytes of a value split across two shards
  const advance = () => {
    while (wi < plan.length && written === plan[wi].count) {
      if (!target) target = Tensor.zeros(plan[wi].spec.shape); // an empty weight
      weights.set(plan[wi].spec.name, { shape: plan[wi].spec.shape, tensor: target });
      target = undefined;
      written = 0;
      ++wi;
    }
  };
  advance();
  try {
    await fill();
  } catch (err) {
    target?.dispose(); // the weight being filled; the finished ones are in `weights`
    throw err;
  }
  target?.dispose();

  async function fill(): Promise<void> {
    for (const [si, p] of group.paths.entries()) {
      let shard: Buffer;
      try {
        shard = await fs.promises.readFile(path.join(dir, p));
      } catch (err) {
        throw new Error(`${who} lists weight shard '${p}' which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (shard.length !== sizes[si]) throw new Error(`${who}: weight shard '${p}' changed size while it was read`);
      let bytes = carry.length ? Buffer.concat([carry, shard]) : shard;
      while (bytes.length && wi < plan.length) {
        const w = plan[wi];
        const take = Math.min(w.count - written, Math.floor(bytes.length / w.width));
        if (take === 0) break; // less than one value left: it continues in the next shard
        target ??= Tensor.zeros(w.spec.shape);
        const [encoding, scale, min] = w.encoding;
        target.handle.write(written, bytes.subarray(0, take * w.width), encoding, scale, min);
        written += take;
        bytes = bytes.subarray(take * w.width);
        advance();
      }
      carry = Buffer.from(bytes);
    }
  }
}

/** Reads a TF.js layers model from its model.json path. */
export async function loadTfjs(modelJson: string): Promise<LoadedModel> {
  const who = `tfjs: '${modelJson}'`;
  let text: string;
  try {
    text = await fs.promises.readFile(modelJson, 'utf8');
  } catch (err) {
    throw new Error(`${who} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: { format?: string; modelTopology?: { model_config?: unknown } & Record<string, unknown>; weightsManifest?: ManifestGroup[] };
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${who} is not valid JSON (${(err as Error).message})`);
  }
  if (json.format === 'graph-model')
    throw new Error(`${who} is a TF.js graph model; eyecandy reads layers models (Keras topology)`);
  const topology = json.modelTopology;
  const config = topology?.model_config ?? (topology?.class_name ? topology : undefined);
  if (!config || !Array.isArray(json.weightsManifest))
    throw new Error(`${who} is not a TF.js layers model: expected modelTopology.model_config and weightsManifest`);

  const dir = path.dirname(modelJson);
  const weights: WeightMap = new Map();
  try {
    for (const [gi, group] of json.weightsManifest.entries()) await readGroup(who, dir, gi, group, weights);
  } catch (err) {
    for (const w of weights.values()) w.tensor.dispose();
    throw err;
  }
  return buildKerasGraph(config, weights, { format: 'tfjs', source: modelJson });
}
