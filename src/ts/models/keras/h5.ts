// Keras HDF5 files, read with h5wasm (the maintained HDF5 library compiled to
// WebAssembly): full models (model_config + model_weights) and weights-only
// files such as keras-applications' vgg16_weights_tf_dim_ordering_tf_kernels.h5,
// which need the architecture from the zoo.
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { Worker } from 'worker_threads';

import { weightRoles } from './architectures';
import { Tensor } from '../../tensor';
import { buildKerasGraph, WeightMap } from './json';
import { LoadedModel, probeShape } from '../types';

// h5wasm ships ESM and a self-contained browser bundle; the bundle loads in
// CommonJS and under jest alike, and works on an in-memory file system.
interface H5Node {
  keys?: () => string[];
  attrs: Record<string, { value: unknown }>;
  shape?: number[];
  value?: unknown;
  get?: (p: string) => H5Node | null;
}
interface H5Module {
  ready: Promise<{ FS: { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void } }>;
  File: new (p: string, mode: string) => H5Node & { close(): void; get(p: string): H5Node | null };
}

let h5: Promise<H5Module> | undefined;

/** h5wasm's package exports hide its files from require.resolve; look in node_modules upward. */
function findBundle(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const f = path.join(dir, 'node_modules', 'h5wasm', 'dist', 'iife', 'h5wasm.js');
    if (fs.existsSync(f)) return f;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error('keras: the h5wasm package is missing; reinstall eyecandy (npm install)');
}

/** The h5wasm module, loaded once. */
export function h5wasm(): Promise<H5Module> {
  if (!h5) {
    h5 = (async () => {
      const file = findBundle();
      // Run the bundle as a function body in this realm; its top-level `var h5wasm` is the module.
      const code = await fs.promises.readFile(file, 'utf8');
      const mod = vm.compileFunction(`${code}\nreturn h5wasm;`, [], { filename: file })() as H5Module;
      await mod.ready;
      return mod;
    })();
  }
  return h5;
}

const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (Array.isArray(v) && v.length === 1) return text(v[0]);
  return String(v);
}

function strings(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(text);
  if (typeof v === 'string') return [v];
  return [];
}

export interface KerasH5Options {
  /**
   * Keras model config to use when the file holds weights only (or to
   * override the file's own). The zoo passes VGG16/VGG19's here.
   */
  architecture?: unknown;
  /** How long reading the file may take before it is taken as corrupt. Default: readLimitMs(size). */
  readTimeoutMs?: number;
}

/**
 * The file as a plain tree: attributes read, groups' children, datasets' shapes and values. It is
 * read in a worker thread, so a corrupt file that sends HDF5 into an endless loop (seen: reading
 * a damaged string attribute) is stopped by a time limit instead of hanging the process.
 */
interface H5Tree {
  attrs: Record<string, unknown>;
  children?: Record<string, H5Tree>;
  shape?: number[];
  value?: unknown;
}

// The worker's code (plain JavaScript, run with eval: it does not depend on how this module was
// compiled). It loads the h5wasm bundle as h5wasm() does and posts the tree, or the error.
const WORKER = `
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const vm = require('vm');
(async () => {
  try {
    const code = fs.readFileSync(workerData.bundle, 'utf8');
    const mod = vm.compileFunction(code + '\\nreturn h5wasm;', [], { filename: workerData.bundle })();
    const { FS } = await mod.ready;
    // Read here, not in the caller: the file is in memory once (in HDF5's file system) at a time.
    let bytes = fs.readFileSync(workerData.file);
    FS.writeFile('/file.h5', bytes);
    bytes = null;
    let f;
    try {
      f = new mod.File('/file.h5', 'r');
      f.keys();
    } catch (err) {
      parentPort.postMessage({ corrupt: String((err && err.message) || err) });
      return;
    }
    const buffers = [];
    const walk = (node, where) => {
      const out = { attrs: {} };
      for (const k of Object.keys(node.attrs || {})) {
        try {
          out.attrs[k] = node.attrs[k].value;
        } catch (err) {
          throw new Error('attribute ' + where + k + ': ' + ((err && err.message) || err));
        }
      }
      if (typeof node.keys === 'function') {
        out.children = {};
        for (const k of node.keys()) {
          if (where === '/' && k === 'optimizer_weights') continue; // a training checkpoint's: never used
          const c = node.get(k);
          if (c && typeof c === 'object' && c.attrs) out.children[k] = walk(c, where + k + '/');
        }
      } else if (Array.isArray(node.shape)) {
        out.shape = node.shape;
        out.value = node.value;
        if (ArrayBuffer.isView(out.value)) buffers.push(out.value.buffer);
      }
      return out;
    };
    let tree;
    try {
      tree = walk(f, '/');
    } catch (err) {
      parentPort.postMessage({ corrupt: String((err && err.message) || err) });
      return;
    }
    parentPort.postMessage({ tree }, [...new Set(buffers)]);
  } catch (err) {
    parentPort.postMessage({ corrupt: String((err && err.message) || err) });
  }
})();
`;

/** Reads the file's tree in a worker, within `ms`; errors name the file. */
async function readTree(who: string, file: string, ms: number): Promise<H5Tree> {
  const bundle = findBundle();
  const worker = new Worker(WORKER, { eval: true, workerData: { bundle, file }, stderr: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<H5Tree>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${who}: reading it did not finish within ${Math.round(ms / 1000)} s, so the file is taken as corrupt (HDF5 can loop on damaged files)`)),
        ms,
      );
      worker.once('message', (m: { tree?: H5Tree; corrupt?: string }) =>
        m.tree ? resolve(m.tree) : reject(new Error(`${who} is truncated or corrupt (HDF5: ${m.corrupt})`)),
      );
      worker.once('error', (err) => reject(new Error(`${who} is truncated or corrupt (HDF5: ${err.message})`)));
      worker.once('exit', (code) => reject(new Error(`${who} is truncated or corrupt (the HDF5 reader stopped with code ${code})`)));
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

/** The tree in the shape of h5wasm's objects (keys, get with '/' paths, attrs[k].value). */
function nodeOf(t: H5Tree): H5Node {
  const attrs: Record<string, { value: unknown }> = {};
  for (const [k, v] of Object.entries(t.attrs)) attrs[k] = { value: v };
  const children = t.children;
  return {
    attrs,
    shape: t.shape,
    value: t.value,
    keys: children ? () => Object.keys(children) : undefined,
    get: children
      ? (p: string) => {
          let at: H5Tree | undefined = t;
          for (const part of p.split('/').filter(Boolean)) at = at?.children?.[part];
          return at ? nodeOf(at) : null;
        }
      : undefined,
  };
}

/** Time allowed to read a file: 10 s, and 1 s more for each 5 MB. */
export const readLimitMs = (bytes: number): number => 10_000 + Math.ceil(bytes / 5e6) * 1000;

/** Loads a Keras HDF5 file (full model, or weights with `options.architecture`) as a Graph. */
export async function loadKerasH5(file: string, options: KerasH5Options = {}): Promise<LoadedModel> {
  const who = `keras: '${file}'`;
  // The signature and size here; the worker reads the whole file.
  const head = Buffer.alloc(8);
  let size: number;
  try {
    const fh = await fs.promises.open(file, 'r');
    try {
      size = (await fh.stat()).size;
      await fh.read(head, 0, 8, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new Error(`${who} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (size < 8 || !head.equals(HDF5_MAGIC)) throw new Error(`${who} is not an HDF5 file (no HDF5 signature)`);
  const f = nodeOf(await readTree(who, file, options.readTimeoutMs ?? readLimitMs(size)));
  {
    let config = options.architecture;
    if (!config && f.attrs.model_config) {
      try {
        config = JSON.parse(text(f.attrs.model_config.value));
      } catch (err) {
        throw new Error(`${who} has a model_config that is not JSON (${(err as Error).message})`);
      }
    }
    if (!config)
      throw new Error(`${who} holds weights only (no model_config); load it through the zoo (--model vgg16 with a local file) or pass an architecture`);

    // Look before every get(): a failed HDF5 lookup prints diagnostics to stderr.
    const has = (n: H5Node, key: string) => (n.keys?.() ?? []).includes(key);
    const root = (has(f, 'model_weights') ? f.get?.('model_weights') : null) ?? f;
    const layerNames = strings(root.attrs.layer_names?.value) ;
    const available = layerNames.length ? layerNames : (root.keys?.() ?? []);
    const weights: WeightMap = new Map();
    const layers = ((config as { config?: { layers?: unknown } }).config?.layers ?? (config as { config?: unknown }).config) as
      | { class_name: string; config: Record<string, unknown> & { name: string } }[]
      | undefined;
    try {
      readWeights();
    } catch (err) {
      for (const w of weights.values()) w.tensor.dispose();
      throw err;
    }
    function readWeights(): void {
      // Anything but a list of layer objects is left to buildKerasGraph, which names what is wrong.
      for (const layer of Array.isArray(layers) ? layers : []) {
        if (!layer || typeof layer !== 'object' || !layer.config || typeof layer.config !== 'object') continue;
        const roles = weightRoles(layer.class_name, layer.config);
        if (!roles.length) continue;
        const name = layer.config.name;
        const group = available.includes(name) && has(root, name) ? root.get?.(name) : null;
        if (!group)
          throw new Error(
            `${who} has no weights for layer '${name}' (the file's layers: ${available.slice(0, 8).join(', ')}${available.length > 8 ? ', ...' : ''}); is it a file for another network?`,
          );
        const names = strings(group.attrs.weight_names?.value);
        if (names.length !== roles.length)
          throw new Error(`${who}: layer '${name}' holds ${names.length} weights but a ${layer.class_name} needs ${roles.length} (${roles.join(', ')})`);
        names.forEach((wn, i) => {
          // Keras nests datasets as <layer>/<weight name>, the name itself holding a '/'.
          const ds = group.get?.(wn);
          if (!ds || !ds.shape) throw new Error(`${who}: layer '${name}' lists weight '${wn}' which the file lacks`);
          const v = ds.value;
          const data = v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
          // Into native memory at once: the JS copy of this dataset is garbage from here on.
          weights.set(`${name}/${roles[i]}`, { shape: ds.shape, tensor: Tensor.from(data, ds.shape) });
        });
      }
    }
    const model = buildKerasGraph(config, weights, { format: 'keras', source: file });
    // Catch a file of another network now, naming the layer, rather than at the first run; and a
    // weight that is NaN or infinite (compile refuses it), naming the file.
    let probe: ReturnType<typeof model.graph.compile> | undefined;
    try {
      probe = model.graph.compile();
      probe.inferShapes({ [model.input]: probeShape(model.inputShape) });
    } catch (err) {
      for (const d of model.graph.nodes()) if (d.kind === 'param') d.value.dispose();
      const m = (err as Error).message;
      throw new Error(probe ? `${who} does not fit its architecture: ${m}` : `${who} holds weights that cannot be used: ${m}`);
    } finally {
      probe?.dispose();
    }
    return model;
  }
}
