// TF.js layers models: model.json (Keras topology + weight manifest) and
// binary weight shards, including uint8/uint16 affine-quantized and float16
// weights. Graph models (converted SavedModels) are refused by name.
import * as fs from 'fs';
import * as path from 'path';

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

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function bytesPer(spec: WeightSpec): number {
  const q = spec.quantization?.dtype;
  if (q === 'uint8') return 1;
  if (q === 'uint16' || q === 'float16') return 2;
  if (spec.dtype === 'float32' || spec.dtype === 'int32') return 4;
  throw new Error(`weight '${spec.name}' has dtype ${spec.dtype}${q ? ` quantized as ${q}` : ''}; expected float32, int32 or uint8/uint16/float16 quantization`);
}

/** Decodes one weight from its bytes into float32. */
function decode(spec: WeightSpec, bytes: Buffer): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const q = spec.quantization;
  if (q?.dtype === 'uint8' || q?.dtype === 'uint16') {
    if (typeof q.scale !== 'number' || typeof q.min !== 'number')
      throw new Error(`weight '${spec.name}' is ${q.dtype}-quantized but lacks scale/min`);
    const { scale, min } = q;
    if (q.dtype === 'uint8') for (let i = 0; i < n; ++i) out[i] = bytes[i] * scale + min;
    else for (let i = 0; i < n; ++i) out[i] = bytes.readUInt16LE(2 * i) * scale + min;
  } else if (q?.dtype === 'float16') {
    for (let i = 0; i < n; ++i) out[i] = halfToFloat(bytes.readUInt16LE(2 * i));
  } else if (spec.dtype === 'int32') {
    for (let i = 0; i < n; ++i) out[i] = bytes.readInt32LE(4 * i);
  } else {
    // Copy through a fresh aligned buffer: shard offsets need not be 4-byte aligned.
    out.set(new Float32Array(Uint8Array.from(bytes).buffer, 0, n));
  }
  return out;
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
  for (const [gi, group] of json.weightsManifest.entries()) {
    const shards: Buffer[] = [];
    for (const p of group.paths) {
      try {
        shards.push(await fs.promises.readFile(path.join(dir, p)));
      } catch (err) {
        throw new Error(`${who} lists weight shard '${p}' which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    const data = Buffer.concat(shards);
    shards.length = 0;
    let need = 0;
    for (const spec of group.weights) need += spec.shape.reduce((a, b) => a * b, 1) * bytesPer(spec);
    if (need !== data.length)
      throw new Error(`${who}: weight group ${gi + 1} holds ${data.length} bytes but its ${group.weights.length} weights need ${need}`);
    let offset = 0;
    for (const spec of group.weights) {
      const len = spec.shape.reduce((a, b) => a * b, 1) * bytesPer(spec);
      weights.set(spec.name, { shape: spec.shape, data: decode(spec, data.subarray(offset, offset + len)) });
      offset += len;
    }
  }
  return buildKerasGraph(config, weights, { format: 'tfjs', source: modelJson });
}
