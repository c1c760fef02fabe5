// Network: a compiled graph (a native Program) with forward and backward.
import { nativeCall, NativeProgram, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkName, invalidParameterError } from '../validate';
import { checkFiniteTensor } from './finite';

/** The backends a network (and every task) may be asked for; 'auto' takes a GPU when one answers. */
export const BACKENDS = ['cpu', 'cuda', 'auto'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Options of `Graph.compile`: the backend and TF32. */
export interface CompileOptions {
  /** 'cpu' (default), 'cuda', or 'auto' (a GPU when one answers, else the CPU). */
  backend?: BackendName;
  /**
   * CUDA: run convolutions, dense layers and Gram matrices on TF32 tensor
   * cores (Ampere and later; inputs rounded to 10 mantissa bits, about 1e-3
   * relative error). Default false (fp32). The CPU computes in fp32 either way.
   */
  tf32?: boolean;
  /**
   * Accept NaN and ±Infinity in the weights (checked here, and by setParam) and, unless a call
   * says otherwise, in the inputs. Default false: a non-finite value is an error naming where it is.
   */
  allowNonFinite?: boolean;
}

/** Options of `Network.forward`: which nodes to return (taps), whether to keep what a backward pass needs, where results stay. */
export interface ForwardOptions {
  /**
   * Node names whose values to return; default: the last node added. The
   * network computes only what the taps need.
   */
  taps?: string[];
  /** Keep what backward() needs; default false. */
  grad?: boolean;
  /**
   * Leave the results in the backend's memory (the GPU's for 'cuda') instead
   * of copying them to the host; default false. For work that stays on the
   * device, such as an optimizer's steps; `data()` still copies them out.
   */
  onDevice?: boolean;
  /** Accept NaN and ±Infinity in the inputs; default: the network's (CompileOptions.allowNonFinite). */
  allowNonFinite?: boolean;
}

/** Options of `Network.backward`: which parameter gradients to return, where results stay. */
export interface BackwardOptions {
  /** Parameters whose gradient to return: true for all, or a list of names; default none. */
  params?: boolean | string[];
  /** Return the gradients of the inputs; default true. */
  inputs?: boolean;
  /** Leave the gradients in the backend's memory (see ForwardOptions.onDevice); default false. */
  onDevice?: boolean;
}

/** What `Network.backward` returns: the gradient with respect to each input and the parameters asked for. */
export interface Gradients {
  /** Gradient of the first (usually only) input. */
  input?: Tensor;
  /** Gradients by input name. */
  inputs: Record<string, Tensor>;
  /** Gradients by parameter name. */
  params: Record<string, Tensor>;
}

/** Backward seeds by tap name: a tensor of the tap's shape, or a number that fills it (1 for a scalar loss). */
export type Seeds = Record<string, Tensor | number>;

export interface GradientOptions {
  /** Taps to compute (and return); default: the seeds' names when they are given as an object, else the last node. */
  taps?: string[];
  /** Parameters whose gradient to return: true for all, or a list of names; default none. */
  params?: boolean | string[];
  /** Return the gradients of the inputs; default true. */
  inputs?: boolean;
  /** Leave the taps and gradients in the backend's memory (see ForwardOptions.onDevice); default false. */
  onDevice?: boolean;
  /**
   * Takes each seed set's gradients as soon as they are computed (before the next backward),
   * instead of collecting them in the result: for many seed sets on one forward whose gradients
   * would not all fit in memory at once. The callee owns them. It runs inside the call, so it
   * must not call this network (it would wait for itself). Default none.
   */
  onGradients?: (gradients: Gradients, index: number) => void | Promise<void>;
  /** Free the activations kept for backward and the buffer pool when done (see release()); default false. */
  release?: boolean;
  /** Accept NaN and ±Infinity in the inputs; default: the network's (CompileOptions.allowNonFinite). */
  allowNonFinite?: boolean;
}

export interface GradientResult {
  /** The tapped values of the forward pass, by node name. */
  taps: Record<string, Tensor>;
  /** The gradients for each seed set, in order (empty with onGradients). */
  gradients: Gradients[];
}

/** What Network.memory() reports, in bytes. */
export interface NetworkMemory {
  weights: number;
  retained: number;
  pool: number;
  total: number;
}

type Feed = [name: string, value: Tensor, what: string];

function wrapAll(r: Record<string, NativeTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(r)) out[k] = Tensor.wrap(v);
  return out;
}

/** A compiled Graph on one backend (a native Program). Calls run off the JS thread, one at a time in the order made; `gradient()` runs a forward and its backward passes as one unit. */
export class Network {
  private lastShapes: Record<string, number[]> = {};
  /**
   * Seed tensors made from numbers, by tap, shape and value, reused across calls: a fresh
   * one per backward costs a new buffer of the tap's size (page faults on every call).
   * The native side reads seeds and never writes them.
   */
  private seedCache = new Map<string, Tensor>();
  private disposed = false;
  /** Every call that runs the program goes through this queue, in the order made. */
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** @internal Use Graph.compile(). */
  constructor(
    private readonly program: NativeProgram,
    readonly inputNames: string[],
    readonly output: string,
    /** NaN and ±Infinity accepted in weights and (by default) inputs; see CompileOptions. */
    readonly allowNonFinite = false,
  ) {}

  /** The backend the network runs on ('cpu' or 'cuda'). */
  get backend(): string {
    return this.program.backendName();
  }

  private live(who: string): NativeProgram {
    if (this.disposed) throw new Error(`${who}: the network was disposed`);
    return this.program;
  }

  /** Runs fn after every call queued before it; the count drops before the caller sees the result. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    ++this.pending;
    const run = this.tail.then(fn).finally(() => --this.pending);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * A call that changes the program's state: now when nothing is queued (so its errors throw
   * here), else after what is queued (its errors reject the returned promise).
   */
  private now(fn: () => void): Promise<void> {
    if (!this.pending) {
      fn();
      return Promise.resolve();
    }
    return this.enqueue(async () => fn());
  }

  /** The inputs as [name, tensor, what an error calls it]. */
  private feeds(who: string, input: Tensor | Record<string, Tensor>): Feed[] {
    if (input instanceof Tensor) {
      if (this.inputNames.length !== 1)
        throw new Error(`${who}: the network has inputs ${this.inputNames.map((n) => `'${n}'`).join(', ')}; pass tensors by name`);
      input.assertLive(`${who} input`);
      return [[this.inputNames[0], input, `${who} input`]];
    }
    if (input && typeof input === 'object') {
      return Object.entries(input).map(([k, v]): Feed => {
        if (!(v instanceof Tensor)) throw invalidParameterError(who, `input '${k}'`, 'a Tensor', v);
        v.assertLive(`${who} input '${k}'`);
        return [k, v, `${who} input '${k}'`];
      });
    }
    throw invalidParameterError(who, 'input', 'a Tensor or tensors by input name', input);
  }

  private checkAllow(who: string, v: unknown): boolean {
    if (v === undefined) return this.allowNonFinite;
    if (typeof v !== 'boolean') throw invalidParameterError(who, 'allowNonFinite', 'true or false', v);
    return v;
  }

  private checkTaps(who: string, taps: unknown): string[] {
    if (!Array.isArray(taps)) throw invalidParameterError(who, 'taps', 'array of node names', taps);
    taps.forEach((t, i) => checkName(who, `taps[${i}]`, t));
    return taps;
  }

  /** [queued] One forward pass; the caller holds the queue. */
  private async runForward(who: string, feeds: Feed[], taps: string[], grad: boolean, onDevice: boolean, allowNonFinite: boolean) {
    const program = this.live(who);
    const handles: Record<string, NativeTensor> = {};
    for (const [k, v, what] of feeds) {
      v.assertLive(what); // again: it may have been disposed while the call waited in the queue
      if (!allowNonFinite) checkFiniteTensor(what, v);
      handles[k] = v.handle;
    }
    const out = wrapAll(await nativeCall(() => program.forward(handles, taps, grad, onDevice)));
    this.lastShapes = {};
    for (const [k, v] of Object.entries(out)) this.lastShapes[k] = v.shape;
    return out;
  }

  /** [queued] One backward pass of the last forward; the caller holds the queue. `last`: no backward of that forward follows. */
  private async runBackward(who: string, grads: Seeds, options: BackwardOptions, last = false): Promise<Gradients> {
    const program = this.live(who);
    const seeds: Record<string, NativeTensor> = {};
    const temps: Tensor[] = [];
    try {
      for (const [k, v] of Object.entries(grads ?? {})) {
        if (v instanceof Tensor) {
          v.assertLive(`${who} gradient '${k}'`);
          seeds[k] = v.handle;
        } else if (typeof v === 'number' && Number.isFinite(v)) {
          const shape = this.lastShapes[k];
          if (!shape) throw new Error(`${who}: '${k}' was not a tap of the last forward`);
          const key = `${k}\u0000${shape.join(',')}\u0000${v}`;
          let t = this.seedCache.get(key);
          if (!t || t.isDisposed) {
            t = Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v), shape);
            if (this.seedCache.size >= 16) {
              const [oldKey, old] = this.seedCache.entries().next().value as [string, Tensor];
              this.seedCache.delete(oldKey);
              temps.push(old); // disposed after this call, which may still read it
            }
            this.seedCache.set(key, t);
          }
          seeds[k] = t.handle;
        } else {
          throw invalidParameterError(who, `gradient '${k}'`, 'a Tensor or a finite number', v);
        }
      }
      const params =
        options.params === true ? program.paramNames() : Array.isArray(options.params) ? options.params : [];
      const r = await nativeCall(() => program.backward(seeds, params, options.inputs ?? true, options.onDevice ?? false, last));
      const inputs = wrapAll(r.inputs);
      return { input: inputs[this.inputNames[0]], inputs, params: wrapAll(r.params) };
    } finally {
      temps.forEach((t) => t.dispose());
    }
  }

  /**
   * Runs the network. `input` is a tensor (for a single-input network) or
   * tensors by input name. Resolves to the tapped values by node name.
   * The network reads the input tensors in place (no copy): do not change
   * them while the call runs, nor, with `grad`, before backward() resolves.
   * Calls on one network run one at a time, in the order made; but another
   * caller's forward may run between this forward and a later backward():
   * use gradient() for a forward and its backward as one unit.
   */
  async forward(input: Tensor | Record<string, Tensor>, options: ForwardOptions = {}): Promise<Record<string, Tensor>> {
    this.live('forward');
    const feeds = this.feeds('forward', input);
    const taps = this.checkTaps('forward', options.taps ?? [this.output]);
    const allow = this.checkAllow('forward', options.allowNonFinite);
    return this.enqueue(() => this.runForward('forward', feeds, taps, options.grad ?? false, options.onDevice ?? false, allow));
  }

  /**
   * forward() on the calling thread: returns the tapped values instead of a Promise. For small
   * networks (MobileNet-sized, a few milliseconds) the hand-off to a worker thread and back costs
   * a sizeable part of the call; this skips it, at the price of blocking the event loop while the
   * network runs. Throws when another call on this network is still queued or running (await it
   * first), and on the same errors forward() rejects with.
   */
  forwardSync(input: Tensor | Record<string, Tensor>, options: ForwardOptions = {}): Record<string, Tensor> {
    const program = this.live('forwardSync');
    if (this.pending)
      throw new Error(`forwardSync: ${this.pending} call(s) on this network are still queued or running; await them first`);
    const feeds = this.feeds('forwardSync', input);
    const taps = this.checkTaps('forwardSync', options.taps ?? [this.output]);
    const allow = this.checkAllow('forwardSync', options.allowNonFinite);
    const handles: Record<string, NativeTensor> = {};
    for (const [k, v, what] of feeds) {
      if (!allow) checkFiniteTensor(what, v);
      handles[k] = v.handle;
    }
    const out = wrapAll(program.forwardSync(handles, taps, options.grad ?? false, options.onDevice ?? false));
    this.lastShapes = {};
    for (const [k, v] of Object.entries(out)) this.lastShapes[k] = v.shape;
    return out;
  }

  /**
   * Back-propagates gradients given at taps of the last forward({grad: true}).
   * A number seeds every element of that tap (1 for a scalar loss). Not atomic
   * with its forward (see gradient()).
   */
  async backward(grads: Seeds, options: BackwardOptions = {}): Promise<Gradients> {
    this.live('backward');
    return this.enqueue(() => this.runBackward('backward', grads, options));
  }

  /**
   * [async] A forward pass that keeps what backward needs, then a backward pass for each seed set,
   * as one unit: no other call on this network runs in between, so concurrent callers on one
   * network need no lock (forward() and backward() alone are not atomic). `seeds` may be given
   * up front, or computed from the forward's taps (e.g. a class map's probabilities), as one
   * seed set or several (each back-propagated through the same kept activations). The last seed
   * set's backward frees the kept activations as it goes (earlier layers' gradients reuse their
   * memory), so a backward() after gradient() has no forward pass to use.
   */
  async gradient(
    input: Tensor | Record<string, Tensor>,
    seeds: Seeds | ((taps: Record<string, Tensor>) => Seeds | Seeds[] | Promise<Seeds | Seeds[]>),
    options: GradientOptions = {},
  ): Promise<GradientResult> {
    const who = 'gradient';
    this.live(who);
    const feeds = this.feeds(who, input);
    if (typeof seeds !== 'function' && (!seeds || typeof seeds !== 'object'))
      throw invalidParameterError(who, 'seeds', 'gradients by tap name or a function of the taps', seeds);
    if (options.onGradients !== undefined && typeof options.onGradients !== 'function')
      throw invalidParameterError(who, 'onGradients', 'a function', options.onGradients);
    const taps = this.checkTaps(who, options.taps ?? (typeof seeds === 'function' ? [this.output] : Object.keys(seeds)));
    const onDevice = options.onDevice ?? false;
    const allow = this.checkAllow(who, options.allowNonFinite);
    return this.enqueue(async () => {
      try {
        const out = await this.runForward(who, feeds, taps, true, onDevice, allow);
        const given = typeof seeds === 'function' ? await seeds(out) : seeds;
        const sets = Array.isArray(given) ? given : [given];
        const gradients: Gradients[] = [];
        for (const [i, set] of sets.entries()) {
          const g = await this.runBackward(who, set, { params: options.params, inputs: options.inputs, onDevice }, i === sets.length - 1);
          if (options.onGradients) await options.onGradients(g, i);
          else gradients.push(g);
        }
        return { taps: out, gradients };
      } finally {
        if (options.release && !this.disposed) this.program.release();
      }
    });
  }

  /** A copy of a parameter's value. */
  param(name: string): Tensor {
    return Tensor.wrap(this.live('param').param(checkName('param', 'name', name)));
  }

  /**
   * Replaces a parameter's value (same shape). With nothing queued it happens now (errors throw
   * here); else after the calls already queued (errors reject the promise).
   */
  setParam(name: string, value: Tensor): Promise<void> {
    if (!(value instanceof Tensor)) throw invalidParameterError('setParam', name, 'a Tensor', value);
    value.assertLive(`setParam '${name}'`);
    this.live('setParam');
    if (!this.allowNonFinite) checkFiniteTensor(`setParam '${name}'`, value);
    return this.now(() => this.live('setParam').setParam(name, value.handle));
  }

  /** Names of the network's parameter nodes. */
  paramNames(): string[] {
    return this.live('paramNames').paramNames();
  }

  /** Shapes of every node for the given input shapes, computed without running anything. */
  inferShapes(inputs: Record<string, number[]>): Record<string, number[]> {
    return this.live('inferShapes').inferShapes(inputs);
  }

  /**
   * Native bytes this network holds: `weights` (its parameters; networks compiled from one graph
   * share them, so they count in each), `retained` (activations kept by forward({grad}) for
   * backward), `pool` (freed intermediate buffers kept for reuse) and their `total`. Kernels'
   * short-lived scratch (a convolution's workspace) is not included; memoryStats() gives the
   * process-wide live bytes.
   */
  memory(): NetworkMemory {
    const m = this.live('memory').memory();
    return { weights: m.weights, retained: m.retained, pool: m.pool, total: m.weights + m.retained + m.pool };
  }

  /**
   * Frees what forward({grad: true}) kept, the buffer pool and the cached seeds: now with nothing queued, else
   * after the calls already queued.
   */
  release(): Promise<void> {
    this.live('release');
    return this.now(() => {
      if (!this.disposed) this.program.release();
      for (const t of this.seedCache.values()) t.dispose();
      this.seedCache.clear();
    });
  }

  /** Frees the network's native memory (its weights too, on the host or a GPU) now, not at garbage collection. */
  dispose(): void {
    if (this.disposed) return;
    this.program.dispose();
    this.disposed = true;
    for (const t of this.seedCache.values()) t.dispose();
    this.seedCache.clear();
  }
}
