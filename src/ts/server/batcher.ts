// Synchronous classify with dynamic batching: requests of one shape (fixed-size classify
// squashes every image to the same square) that arrive within maxDelayMs of the first run as
// one forward pass of up to maxBatch images, as Triton's dynamic batcher does. Forwards take the
// device lock the job queue uses, so a batch never runs beside a render.
import { Image } from '../image/io';
import { resolveLabels } from '../models/labels';
import { preprocessPixels } from '../models/preprocess';
import { softmax } from '../nn/rewrites/fcn';
import { classify, checkClassifyOptions, ClassifyOptions, ClassifyResult } from '../tasks/classify';
import { readSource, taskNetwork, topClasses } from '../tasks/runtime';
import { Tensor, tidy } from '../tensor';
import { badOption, HttpError } from './errors';
import { Metrics } from './metrics';
import { watchNetwork } from './native-memory';
import { DeviceLock } from './queue';
import { RunConfig } from './tasks';

export interface BatchOptions {
  /** Largest batch; 1 turns batching off (every request its own forward). */
  maxBatch: number;
  /** How long the first request of a batch waits for others. */
  maxDelayMs: number;
  /** Requests that may wait (decoded, for the device), beyond which 429. */
  capacity: number;
}

interface Item {
  at: number;
  image: Image;
  topK: number;
  resolve: (r: ClassifyResult) => void;
  reject: (e: unknown) => void;
}

export class ClassifyBatcher {
  private waiting = new Map<number, Item[]>();
  private busy = false;
  private timer?: NodeJS.Timeout;
  private inFlight = 0;

  constructor(
    private cfg: RunConfig,
    private device: DeviceLock,
    private metrics: Metrics,
    private o: BatchOptions,
  ) {}

  get pending(): number {
    return this.inFlight;
  }

  async classify(bytes: Buffer, options: ClassifyOptions): Promise<ClassifyResult> {
    if (this.inFlight >= this.o.capacity)
      throw new HttpError(429, 'queue_full', `${this.inFlight} classify requests are waiting (at most ${this.o.capacity}); retry in about 1 s`, { 'retry-after': '1' });
    let checked;
    try {
      checked = checkClassifyOptions(options);
    } catch (err) {
      throw badOption(err);
    }
    this.inFlight++;
    try {
      const common = { model: this.cfg.model, mirror: this.cfg.mirror, cacheDir: this.cfg.cacheDir, backend: this.cfg.backend };
      // Any-size maps and caller labels take the task as it is, one at a time.
      if (checked.anySize || options.labels !== undefined) return await this.device.run(() => classify(bytes, { ...options, ...common }));
      const { model } = await taskNetwork(this.cfg.model, common, { backend: this.cfg.backend, tf32: false, fcn: false });
      const [mh, mw] = model.inputSize;
      const size = options.size;
      const image = await readSource(bytes, { width: size ?? mw, height: size ?? mh, mode: 'squash' });
      return await new Promise<ClassifyResult>((resolve, reject) => this.add(image.height * 100000 + image.width, { at: Date.now(), image, topK: checked.topK, resolve, reject }));
    } finally {
      this.inFlight--;
    }
  }

  // One pending list per shape. A batch is cut only when the device is free: from the requests
  // waiting (up to maxBatch) once the oldest has waited maxDelayMs or the batch is full, so
  // under load, requests that arrive while a forward runs all go into the next one.
  private add(key: number, item: Item) {
    const list = this.waiting.get(key) ?? [];
    list.push(item);
    this.waiting.set(key, list);
    this.pump();
  }

  private pump() {
    if (this.busy) return;
    let key: number | undefined;
    for (const [k, l] of this.waiting) if (key === undefined || l[0].at < this.waiting.get(key)![0].at) key = k;
    if (key === undefined) return;
    const list = this.waiting.get(key)!;
    const wait = this.o.maxDelayMs - (Date.now() - list[0].at);
    if (list.length < this.o.maxBatch && wait > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    const items = list.splice(0, this.o.maxBatch);
    if (!list.length) this.waiting.delete(key);
    this.busy = true;
    this.device
      .run(() => this.forward(items))
      .catch((err) => items.forEach((i) => i.reject(err)))
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  private async forward(items: Item[]): Promise<void> {
    const load = { mirror: this.cfg.mirror, cacheDir: this.cfg.cacheDir };
    const { model, net } = await taskNetwork(this.cfg.model, load, { backend: this.cfg.backend, tf32: false, fcn: false });
    watchNetwork(net);
    this.metrics.batch.observe(items.length);
    const { width, height } = items[0].image;
    const per = width * height * 3;
    const data = new Float32Array(per * items.length);
    items.forEach((it, i) => data.set(preprocessPixels(it.image.data, model.preprocess), i * per));
    const tap = model.logits ?? model.output;
    const rows = await tidy(async () => {
      const out = (await net.forward(Tensor.from(data, [items.length, height, width, 3]), { taps: [tap] }))[tap];
      const classes = out.shape[out.shape.length - 1];
      const v = out.data();
      return items.map((_, i) => v.slice(i * classes, (i + 1) * classes));
    });
    const labels = resolveLabels(undefined, model.labels, rows[0].length, 'classify');
    items.forEach((it, i) =>
      it.resolve({ classes: topClasses(model.logits ? softmax(rows[i]) : rows[i], it.topK, labels), model: model.name, inputSize: [height, width] }),
    );
  }
}
