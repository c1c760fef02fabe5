// The only file that loads the native addon. It types the addon's exports and,
// when loading fails, says what to try.
import * as fs from 'fs';
import * as path from 'path';

/** A tensor in native memory (float32, row-major). */
export interface NativeTensor {
  shape(): number[];
  data(): Float32Array;
  dispose(): void;
  disposed(): boolean;
  /** A tensor of another shape over the same storage. */
  reshape(shape: number[]): NativeTensor;
  /** A deep copy in the same memory. */
  clone(): NativeTensor;
  /** Where the data lives: host memory ('cpu') or a CUDA device's. */
  device(): 'cpu' | 'cuda';
  /** A copy in the memory of backend `name` ('cpu': host memory). */
  toBackend(name: string): NativeTensor;
  /** Decodes raw values into this host tensor from element `offset` on; returns the count written. */
  write(offset: number, bytes: ArrayBufferView, encoding: string, scale?: number, min?: number): number;
}

export interface NativeTensorConstructor {
  new (data: Float32Array, shape: number[]): NativeTensor;
}

/** Graph description handed to the native Program (built by src/ts/nn/graph.ts). */
export type NativeNodeDesc =
  | { name: string; kind: 'input'; shape?: number[] }
  | { name: string; kind: 'param'; value: NativeTensor }
  | { name: string; kind: 'op'; op: string; inputs: number[]; attrs: object };

export interface NativeProgram {
  /** [async] Runs the graph up to the taps; rejects with the op, node and shapes on failure. */
  forward(
    feeds: Record<string, NativeTensor>,
    taps: string[],
    keep: boolean,
    onDevice?: boolean,
  ): Promise<Record<string, NativeTensor>>;
  /** [sync] forward() on the calling thread; throws on failure. */
  forwardSync(
    feeds: Record<string, NativeTensor>,
    taps: string[],
    keep: boolean,
    onDevice?: boolean,
  ): Record<string, NativeTensor>;
  /** [async] Propagates the seeds back; needs a previous forward with keep. */
  backward(
    seeds: Record<string, NativeTensor>,
    params: string[],
    wantInputs: boolean,
    onDevice?: boolean,
    /** The last backward of that forward: kept activations are freed as they are read, and another backward throws. */
    last?: boolean,
  ): Promise<{ inputs: Record<string, NativeTensor>; params: Record<string, NativeTensor> }>;
  param(name: string): NativeTensor;
  setParam(name: string, value: NativeTensor): void;
  paramNames(): string[];
  inferShapes(inputs: Record<string, number[]>): Record<string, number[]>;
  release(): void;
  /** Frees parameters and buffers; later calls throw. */
  dispose(): void;
  memory(): { weights: number; retained: number; pool: number };
  backendName(): string;
}

export interface NativeProgramConstructor {
  new (graph: { nodes: NativeNodeDesc[] }, backend: string, options?: { tf32?: boolean }): NativeProgram;
}

export interface CudaInfo {
  compiled: boolean;
  deviceCount: number;
  deviceName: string;
  error: string;
  totalMemory: number;
  freeMemory: number;
  /** Bytes the CUDA block cache holds from cudaMalloc, in use or cached. */
  poolBytes: number;
  runtimeVersion: number;
  driverVersion: number;
}

export interface NativeInfo {
  version: string;
  backends: string[];
  cuda: CudaInfo;
  simd: string;
  threads: number;
}

/** One row of the native op table (native/core/op_table.h); maxInputs -1: any number; attrs: the JS keys read. */
export type NativeOpInfo = { name: string; minInputs: number; maxInputs: number; backwardNeedsInputs: boolean; backwardNeedsOutput: boolean; pointwise: boolean; spatial: boolean; window: boolean; attrs: string[] };

export interface Addon {
  NativeTensor: NativeTensorConstructor;
  NativeProgram: NativeProgramConstructor;
  info(): NativeInfo;
  setThreads(n: number): void;
  opNames(): string[];
  opTable(): NativeOpInfo[];
  /** A zero-filled host tensor, allocated natively. */
  allocTensor(shape: number[]): NativeTensor;
  /** Live native memory per device, process-wide. */
  memoryStats(): { cpu: { bytes: number; tensors: number; peak: number }; cuda: { bytes: number; tensors: number; peak: number } };
  resetMemoryPeak(): void;
  // [sync] vector routines over whole tensors (native/cpu/vecops.h); in-place ones mutate their first tensor.
  vecDot(a: NativeTensor, b: NativeTensor): number;
  vecAxpy(alpha: number, x: NativeTensor, y: NativeTensor): void;
  vecScale(x: NativeTensor, alpha: number): void;
  vecNorm1(x: NativeTensor): number;
  vecNorm2(x: NativeTensor): number;
  vecClampChannels(x: NativeTensor, lo: number[], hi: number[]): void;
  vecAdamStep(x: NativeTensor, g: NativeTensor, m: NativeTensor, v: NativeTensor, lr: number, beta1: number, beta2: number, eps: number, t: number): void;
  vecRoll(x: NativeTensor, dy: number, dx: number): NativeTensor;
  symEig(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array };
}

const root = path.resolve(__dirname, '..', fs.existsSync(path.resolve(__dirname, '..', 'package.json')) ? '' : '..');

const ISAS = ['avx512', 'avx2', 'sse4.2', 'generic'];

function load(): Addon {
  // EYECANDY_ISA caps the CPU kernels' vector ISA (native/cpu/threadpool.h); a name the native
  // side does not know would cap nothing, silently.
  const isa = process.env.EYECANDY_ISA;
  if (isa !== undefined && isa !== '' && !ISAS.includes(isa))
    throw new Error(`eyecandy: EYECANDY_ISA='${isa}' is not one of ${ISAS.join(', ')}; unset it to use the widest the CPU offers`);
  // EYECANDY_ADDON names the one file to load: when it is missing or fails to load, that is the
  // error (falling back to the default build would run other code than the one asked for).
  const chosen = process.env.EYECANDY_ADDON;
  if (chosen !== undefined && chosen !== '') {
    const file = path.resolve(chosen);
    let why: string | undefined;
    if (!fs.existsSync(file)) why = 'no such file';
    else if (!fs.statSync(file).isFile()) why = 'not a file';
    else {
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const a = require(file) as Addon;
        loadedFrom = file;
        return a;
      } catch (err) {
        why = (err as Error).message;
      }
    }
    throw new Error(`eyecandy: EYECANDY_ADDON='${chosen}' cannot be loaded (${file}: ${why}); unset it to use the default build`);
  }
  const candidates = [
    path.join(root, 'build-cmake', 'Release', 'eyecandy.node'), // cmake-js (npm install)
    path.join(root, 'build', 'Release', 'eyecandy.node'), // node-gyp (npm run build:gyp)
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'eyecandy.node'), // shipped in the package
  ];
  const errors: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const a = require(file) as Addon;
      loadedFrom = file;
      return a;
    } catch (err) {
      errors.push(`${file}: ${(err as Error).message}`);
    }
  }
  const help = [
    'eyecandy: could not load the native addon.',
    ...errors.map((e) => `  - ${e}`),
    'Possible fixes:',
    '  - build it: npm install (or npm run build:native) in the eyecandy package folder',
    '  - without CMake: npm run build:gyp',
    '  - point EYECANDY_ADDON at a built eyecandy.node',
    `Looked in: ${candidates.join(', ')}`,
  ];
  throw new Error(help.join('\n'));
}

let cached: Addon | undefined;
let loadedFrom = '';

/** The file the addon was loaded from ('' before the first use). */
export function addonPath(): string {
  return loadedFrom;
}

/** The addon, loaded on first use. */
export function addon(): Addon {
  if (!cached) cached = load();
  return cached;
}

/** Calls a native async function, rethrowing its failure with the caller's stack. */
export async function nativeCall<T>(fn: () => Promise<T>): Promise<T> {
  const stack = new Error().stack;
  try {
    return await fn();
  } catch (err) {
    const e = new Error((err as Error).message ?? String(err));
    if (stack) e.stack = `Error: ${e.message}\n${stack.split('\n').slice(2).join('\n')}`;
    throw e;
  }
}
