// Network: a compiled graph (a native Program) with forward and backward.
import { nativeCall, NativeProgram, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkName, invalidParameterError } from '../validate';

export interface CompileOptions {
  /** 'cpu' (default), 'cuda', 'cudnn', or 'auto' (a GPU when one answers, else the CPU). */
  backend?: 'cpu' | 'cuda' | 'cudnn' | 'auto';
  /**
   * CUDA: run convolutions, dense layers and Gram matrices on TF32 tensor
   * cores (Ampere and later; inputs rounded to 10 mantissa bits, about 1e-3
   * relative error). Default false (fp32). The CPU computes in fp32 either way.
   */
  tf32?: boolean;
}

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
}

export interface BackwardOptions {
  /** Parameters whose gradient to return: true for all, or a list of names; default none. */
  params?: boolean | string[];
  /** Return the gradients of the inputs; default true. */
  inputs?: boolean;
  /** Leave the gradients in the backend's memory (see ForwardOptions.onDevice); default false. */
  onDevice?: boolean;
}

export interface Gradients {
  /** Gradient of the first (usually only) input. */
  input?: Tensor;
  /** Gradients by input name. */
  inputs: Record<string, Tensor>;
  /** Gradients by parameter name. */
  params: Record<string, Tensor>;
}

function wrapAll(r: Record<string, NativeTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(r)) out[k] = Tensor.wrap(v);
  return out;
}

export class Network {
  private lastShapes: Record<string, number[]> = {};
  private disposed = false;

  /** @internal Use Graph.compile(). */
  constructor(
    private readonly program: NativeProgram,
    readonly inputNames: string[],
    readonly output: string,
  ) {}

  /** The backend the network runs on ('cpu' or 'cuda'). */
  get backend(): string {
    return this.program.backendName();
  }

  private live(who: string): NativeProgram {
    if (this.disposed) throw new Error(`${who}: the network was disposed`);
    return this.program;
  }

  /**
   * Runs the network. `input` is a tensor (for a single-input network) or
   * tensors by input name. Resolves to the tapped values by node name.
   * The network reads the input tensors in place (no copy): do not change
   * them while the call runs, nor, with `grad`, before backward() resolves.
   */
  async forward(input: Tensor | Record<string, Tensor>, options: ForwardOptions = {}): Promise<Record<string, Tensor>> {
    const program = this.live('forward');
    const feeds: Record<string, NativeTensor> = {};
    if (input instanceof Tensor) {
      if (this.inputNames.length !== 1)
        throw new Error(`forward: the network has inputs ${this.inputNames.map((n) => `'${n}'`).join(', ')}; pass tensors by name`);
      input.assertLive('forward input');
      feeds[this.inputNames[0]] = input.handle;
    } else if (input && typeof input === 'object') {
      for (const [k, v] of Object.entries(input)) {
        if (!(v instanceof Tensor)) throw invalidParameterError('forward', `input '${k}'`, 'a Tensor', v);
        v.assertLive(`forward input '${k}'`);
        feeds[k] = v.handle;
      }
    } else {
      throw invalidParameterError('forward', 'input', 'a Tensor or tensors by input name', input);
    }
    const taps = options.taps ?? [this.output];
    if (!Array.isArray(taps)) throw invalidParameterError('forward', 'taps', 'array of node names', taps);
    taps.forEach((t, i) => checkName('forward', `taps[${i}]`, t));
    const out = wrapAll(await nativeCall(() => program.forward(feeds, taps, options.grad ?? false, options.onDevice ?? false)));
    this.lastShapes = {};
    for (const [k, v] of Object.entries(out)) this.lastShapes[k] = v.shape;
    return out;
  }

  /**
   * Back-propagates gradients given at taps of the last forward({grad: true}).
   * A number seeds every element of that tap (1 for a scalar loss).
   */
  async backward(grads: Record<string, Tensor | number>, options: BackwardOptions = {}): Promise<Gradients> {
    const program = this.live('backward');
    const seeds: Record<string, NativeTensor> = {};
    const temps: Tensor[] = [];
    for (const [k, v] of Object.entries(grads ?? {})) {
      if (v instanceof Tensor) {
        v.assertLive(`backward gradient '${k}'`);
        seeds[k] = v.handle;
      } else if (typeof v === 'number' && Number.isFinite(v)) {
        const shape = this.lastShapes[k];
        if (!shape) throw new Error(`backward: '${k}' was not a tap of the last forward`);
        const t = Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v), shape);
        temps.push(t);
        seeds[k] = t.handle;
      } else {
        throw invalidParameterError('backward', `gradient '${k}'`, 'a Tensor or a finite number', v);
      }
    }
    const params =
      options.params === true ? program.paramNames() : Array.isArray(options.params) ? options.params : [];
    try {
      const r = await nativeCall(() => program.backward(seeds, params, options.inputs ?? true, options.onDevice ?? false));
      const inputs = wrapAll(r.inputs);
      return { input: inputs[this.inputNames[0]], inputs, params: wrapAll(r.params) };
    } finally {
      temps.forEach((t) => t.dispose());
    }
  }

  /** A copy of a parameter's value. */
  param(name: string): Tensor {
    return Tensor.wrap(this.live('param').param(checkName('param', 'name', name)));
  }

  /** Replaces a parameter's value (same shape). */
  setParam(name: string, value: Tensor): void {
    if (!(value instanceof Tensor)) throw invalidParameterError('setParam', name, 'a Tensor', value);
    value.assertLive(`setParam '${name}'`);
    this.live('setParam').setParam(name, value.handle);
  }

  paramNames(): string[] {
    return this.live('paramNames').paramNames();
  }

  /** Shapes of every node for the given input shapes, computed without running anything. */
  inferShapes(inputs: Record<string, number[]>): Record<string, number[]> {
    return this.live('inferShapes').inferShapes(inputs);
  }

  /** Bytes held for backward and in the reuse pool. */
  memory(): { retained: number; pool: number } {
    return this.live('memory').memory();
  }

  /** Frees what forward({grad: true}) kept and the buffer pool. */
  release(): void {
    this.live('release').release();
  }

  /** Frees the network's native memory (its weights too, on the host or a GPU) now, not at garbage collection. */
  dispose(): void {
    if (this.disposed) return;
    this.program.dispose();
    this.disposed = true;
  }
}
