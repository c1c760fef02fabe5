// Tensor: a JS handle on float32 data in native memory.
//
// Memory is freed by dispose(), by the tidy() scope that created the tensor,
// or (as a safety net only) when the handle is garbage collected.
import { AsyncLocalStorage } from 'async_hooks';

import { addon, NativeTensor } from './native';
import { checkShape, invalidParameterError } from './validate';

type Scope = Set<Tensor>;
/**
 * How raw little-endian bytes encode values for a native write (loaders decode weights with it):
 * 'float32', 'int32' and 'float16' as they are, 'uint8' and 'uint16' as q * scale + min.
 */
export type ValueEncoding = 'float32' | 'int32' | 'float16' | 'uint8' | 'uint16';
/** Where a tensor's values live. */
export type Device = 'cpu' | 'cuda';
const scopes = new AsyncLocalStorage<Scope>();

/** A float32 tensor in native memory (CPU, or CUDA device memory). Free it with `dispose()`, or create it inside `tidy()`. */
export class Tensor {
  /** @internal */
  readonly handle: NativeTensor;
  private readonly dims: number[];

  /** @internal Use Tensor.from / Tensor.zeros. */
  constructor(handle: NativeTensor) {
    this.handle = handle;
    this.dims = handle.shape();
    scopes.getStore()?.add(this);
  }

  /**
   * A tensor holding a copy of `data` with `shape` (NHWC for images).
   * Throws when the data is not a Float32Array or number[], or its length does not match the shape.
   */
  static from(data: Float32Array | readonly number[], shape: readonly number[]): Tensor {
    const dims = checkShape('tensor', 'shape', shape);
    let array: Float32Array;
    if (data instanceof Float32Array) array = data;
    else if (Array.isArray(data)) array = Float32Array.from(data as number[]);
    else throw invalidParameterError('tensor', 'data', 'Float32Array or number[]', data);
    const size = dims.reduce((a, b) => a * b, 1);
    if (array.length !== size)
      throw new Error(`tensor: shape [${dims.join(',')}] holds ${size} values but data has ${array.length}`);
    return new Tensor(new (addon().NativeTensor)(array, dims));
  }

  /** A tensor of zeros, in host memory or (device 'cuda') a GPU's. */
  static zeros(shape: readonly number[], device: Device = 'cpu'): Tensor {
    const dims = checkShape('tensor', 'shape', shape);
    const t = new Tensor(addon().allocTensor(dims));
    if (device === 'cpu') return t;
    try {
      return t.to(device);
    } finally {
      t.dispose();
    }
  }

  /** A shape-[] tensor holding one value. */
  static scalar(v: number): Tensor {
    return Tensor.from(new Float32Array([v]), []);
  }

  /** Wraps a native handle returned by the addon. @internal */
  static wrap(handle: NativeTensor): Tensor {
    return new Tensor(handle);
  }

  get shape(): number[] {
    this.assertLive('shape');
    return [...this.dims];
  }

  get size(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  /** Where the values live: host memory ('cpu') or a CUDA device's ('cuda'). */
  get device(): Device {
    this.assertLive('device');
    return this.handle.device();
  }

  /**
   * This tensor in the memory of `device` ('cpu': host memory, 'cuda': the
   * GPU): a copy, or this tensor itself when it is there already. Networks
   * accept inputs from either; keeping an optimizer's tensors on the GPU
   * (with forward/backward `onDevice`) saves a copy each way per step.
   */
  to(device: Device): Tensor {
    this.assertLive('to');
    if (device !== 'cpu' && device !== 'cuda') throw invalidParameterError('to', 'device', "'cpu' or 'cuda'", device);
    if (this.device === device) return this;
    return new Tensor(this.handle.toBackend(device));
  }

  get isDisposed(): boolean {
    return this.handle.disposed();
  }

  /** A copy of the values (copied from the GPU for a device tensor). */
  data(): Float32Array {
    this.assertLive('data');
    return this.handle.data();
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`tensor: item() needs one element but shape is [${this.dims.join(',')}]`);
    return this.data()[0];
  }

  /** The same values viewed with another shape of equal size (no copy; shares memory). */
  reshape(shape: readonly number[]): Tensor {
    this.assertLive('reshape');
    const dims = checkShape('reshape', 'shape', shape);
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== this.size)
      throw new Error(`reshape: cannot view [${this.dims.join(',')}] (${this.size} values) as [${dims.join(',')}] (${n} values)`);
    return new Tensor(this.handle.reshape(dims));
  }

  /** A deep copy in the same memory. */
  clone(): Tensor {
    this.assertLive('clone');
    return new Tensor(this.handle.clone());
  }

  /** Frees the native memory now; using the tensor afterwards throws. Safe to call twice. */
  dispose(): void {
    this.handle.dispose();
  }

  /** Its shape, and whether it is disposed, e.g. `Tensor[1,224,224,3]`. */
  toString(): string {
    return `Tensor[${this.dims.join(',')}]${this.isDisposed ? ' (disposed)' : ''}`;
  }

  /** @internal */
  assertLive(what: string): void {
    if (this.handle.disposed()) throw new Error(`${what}: the tensor was disposed`);
  }
}

/** Every tensor reachable from `value` through arrays, plain or class objects, Maps and Sets, at any depth. */
function collect(value: unknown, keep: Set<Tensor>): void {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Tensor) {
      keep.add(v);
      continue;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Promise) continue; // no tensors inside
    if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
      continue;
    }
    if (v instanceof Set) {
      for (const x of v) stack.push(x);
      continue;
    }
    for (const x of Object.values(v)) stack.push(x);
  }
}

/**
 * Runs fn and disposes every tensor created inside it (also across awaits),
 * except the tensors it returns (directly, or anywhere inside the arrays, objects, Maps and Sets it returns).
 */
export function tidy<T>(fn: () => T): T;
export function tidy<T>(fn: () => Promise<T>): Promise<T>;
export function tidy<T>(fn: () => T | Promise<T>): T | Promise<T> {
  const scope: Scope = new Set();
  const parent = scopes.getStore();
  const finish = (result: T): T => {
    const keep = new Set<Tensor>();
    collect(result, keep);
    for (const t of scope) {
      if (keep.has(t)) parent?.add(t);
      else t.dispose();
    }
    return result;
  };
  const fail = (err: unknown): never => {
    for (const t of scope) t.dispose();
    throw err;
  };
  let out: T | Promise<T>;
  try {
    out = scopes.run(scope, fn);
  } catch (err) {
    return fail(err);
  }
  if (out instanceof Promise) return out.then(finish, fail);
  return finish(out);
}

/** Keeps a tensor alive past the enclosing tidy(). */
export function keep(t: Tensor): Tensor {
  scopes.getStore()?.delete(t);
  return t;
}

/** Live native memory of one device (process-wide, every network and tensor). */
export interface DeviceMemory {
  /** Bytes of tensor storage live now: tensors, weights, networks' kept activations and buffer pools. */
  bytes: number;
  /** Storages live now. */
  tensors: number;
  /** The most bytes live at once since the process started or resetMemoryPeak(). */
  peak: number;
}

/**
 * Native memory live now, per backend: 'cpu' is host memory, 'cuda' the GPU's. Kernels' short-lived
 * scratch (e.g. a convolution's im2col workspace) is not included.
 */
export function memoryStats(): { cpu: DeviceMemory; cuda: DeviceMemory } {
  return addon().memoryStats();
}

/** Restarts memoryStats()'s peaks at the bytes live now. */
export function resetMemoryPeak(): void {
  addon().resetMemoryPeak();
}
