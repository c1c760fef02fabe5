// eyecandy dream IMG -o OUT [--layer NAME]... [--channels L:1,2,3]... [--class N] [--octaves N]
//   [--octave-scale S] [--steps N] [--step-size S] [--jitter PX] [--tile N] [--tile-margin PX]
//   [--seed N] [--size PX] [--model NAME|PATH] [--backend B] [--json] [--mirror DIR]
import { Image, readImage, resizeImage, writeImage } from '../image/io';
import { progressBar } from '../models/zoo/download';
import { dream, DreamOptions, DreamProgress } from '../tasks/dream';
import { checkDreamOptions } from '../tasks/dream/options';
import { parseArgs, UsageError } from './args';
import { reportMemoryAtExit } from './memory';
import { checkOutputImage } from './output';

/** "block4_conv2:1,2,3" -> ['block4_conv2', [1, 2, 3]]; the indices are checked by dream(). */
function parseChannels(spec: string): [string, number[]] {
  const colon = spec.lastIndexOf(':');
  if (colon <= 0 || colon === spec.length - 1)
    throw new UsageError(`eyecandy dream: --channels expects LAYER:I,J,... but received '${spec}'`);
  const list = spec.slice(colon + 1).split(',');
  if (list.some((s) => !/^\s*\d+\s*$/.test(s)))
    throw new UsageError(`eyecandy dream: --channels expects channel indices (0, 1, ...) but received '${spec.slice(colon + 1)}'`);
  return [spec.slice(0, colon), list.map(Number)];
}

/** One line redrawn on a TTY; nothing on a pipe, so logs stay short. */
function progressLine(start: number): (p: DreamProgress) => void {
  return (p) => {
    const seconds = ((Date.now() - start) / 1000).toFixed(1);
    process.stderr.write(
      `\rdream  octave ${p.octave}/${p.octaves} (${p.width}x${p.height})  step ${p.step}/${p.steps}  objective ${p.objective.toPrecision(5)}  ${seconds} s\x1b[K`,
    );
  };
}

/** The image, its longer side scaled to `size` when one is given. */
async function input(file: string, size: number | undefined): Promise<string | Image> {
  if (size === undefined) return file;
  const img = await readImage(file);
  return resizeImage(img, img.width >= img.height ? { width: size } : { height: size });
}

export async function runDream(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs('dream', argv, {
    output: { type: 'string', short: 'o' },
    layer: { type: 'string', short: 'l', multiple: true },
    channels: { type: 'string', multiple: true },
    class: { type: 'number' },
    octaves: { type: 'number' },
    'octave-scale': { type: 'number' },
    steps: { type: 'number' },
    'step-size': { type: 'number' },
    jitter: { type: 'number' },
    tile: { type: 'number' },
    'tile-margin': { type: 'number' },
    seed: { type: 'number' },
    size: { type: 'number' },
    model: { type: 'string', short: 'm' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    mirror: { type: 'string' },
    memory: { type: 'boolean' },
  });
  reportMemoryAtExit('dream', options.memory);
  if (positional.length !== 1) throw new UsageError('eyecandy dream: name one image');
  const out = options.output as string | undefined;
  if (!out) throw new UsageError('eyecandy dream: name the output image with -o FILE');
  const channels = (options.channels as string[] | undefined)?.map(parseChannels);
  const start = Date.now();
  const tty = Boolean(process.stderr.isTTY);
  const opts: DreamOptions = {
    model: (options.model as string | undefined) ?? 'vgg16',
    layers: options.layer as string[] | undefined,
    channels: channels && Object.fromEntries(channels),
    classIndex: options.class as number | undefined,
    octaves: options.octaves as number | undefined,
    octaveScale: options['octave-scale'] as number | undefined,
    steps: options.steps as number | undefined,
    stepSize: options['step-size'] as number | undefined,
    jitter: options.jitter as number | undefined,
    tileSize: options.tile as number | undefined,
    tileMargin: options['tile-margin'] as number | undefined,
    seed: options.seed as number | undefined,
    backend: options.backend as DreamOptions['backend'],
    mirror: options.mirror as string | undefined,
    onDownload: tty ? progressBar('model') : undefined,
    onProgress: tty ? progressLine(start) : undefined,
  };
  try {
    checkOutputImage(out); // before the run, not after it
    checkDreamOptions(opts); // option errors before the image is read and resized
    const r = await dream(await input(positional[0], options.size as number | undefined), opts);
    if (tty) process.stderr.write('\n');
    await writeImage(out, r.image);
    const ratio = r.objective.final / r.objective.initial;
    if (options.json) {
      const { image, ...rest } = r;
      process.stdout.write(
        JSON.stringify({ input: positional[0], output: out, width: image.width, height: image.height, ratio, ...rest }, null, 2) + '\n',
      );
    } else {
      process.stdout.write(
        `${out}  ${r.image.width}x${r.image.height}  ${r.layers.length ? r.layers.join('+') : `class ${opts.classIndex}`}  ` +
          `objective ${r.objective.initial.toPrecision(5)} -> ${r.objective.final.toPrecision(5)} (${ratio.toFixed(2)}x)  ${r.seconds.toFixed(1)} s\n`,
      );
    }
    return 0;
  } catch (err) {
    if (tty) process.stderr.write('\n');
    process.stderr.write(`eyecandy dream: ${(err as Error).message}\n`);
    return 1;
  }
}
