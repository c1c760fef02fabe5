// eyecandy style CONTENT STYLE... -o OUT [--size N] [--iterations N[,N...]] [--content-weight W]
//   [--style-weight W] [--tv-weight W] [--style-blend w1,w2,...] [--init noise|content|PATH] [--seed N]
//   [--optimizer lbfgs|adam] [--scales 128,256] [--preserve-colors] [--model NAME|PATH]
//   [--backend cpu|cuda|auto] [--tf32] [--save-every N] [--json] [--mirror DIR]
import * as path from 'path';

import { writeImage } from '../image/io';
import { progressBar } from '../models/zoo/download';
import { style, StyleLosses, StyleOptions, StyleProgress } from '../tasks/style';
import { parseArgs, UsageError } from './args';
import { reportMemoryAtExit } from './memory';
import { checkOutputImage } from './output';

const FORMATS = ['.png', '.jpg', '.jpeg', '.webp'];

/** "1,2.5" -> [1, 2.5]; anything that is not a list of numbers is a usage error naming the option. */
function numbers(option: string, v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const list = String(v).split(',').map((s) => s.trim());
  if (list.some((s) => s === '' || !Number.isFinite(Number(s))))
    throw new UsageError(`eyecandy style: --${option} expects numbers separated by commas but received '${String(v)}'`);
  return list.map(Number);
}

const fmt = (v: number): string => v.toPrecision(4);
const terms = (l: StyleLosses): string =>
  `loss ${fmt(l.total)} (content ${fmt(l.content)}, style ${fmt(l.style)}, tv ${fmt(l.tv)})`;

/** One line redrawn on a TTY; intermediate images every `saveEvery` iterations. */
function progress(start: number, tty: boolean, saveEvery: number | undefined, out: string) {
  const ext = path.extname(out);
  return async (p: StyleProgress): Promise<void> => {
    if (tty) {
      const seconds = ((Date.now() - start) / 1000).toFixed(1);
      process.stderr.write(
        `\rstyle  scale ${p.scale + 1}/${p.scales} (${p.size[1]}x${p.size[0]})  it ${p.iteration}/${p.iterations}  ` +
          `loss ${fmt(p.loss)}  content ${fmt(p.contentLoss)}  style ${fmt(p.styleLoss)}  tv ${fmt(p.tvLoss)}  ` +
          `${seconds} s\x1b[K`,
      );
    }
    if (saveEvery && p.image && p.iteration % saveEvery === 0) {
      const file = `${out.slice(0, out.length - ext.length)}-s${p.scale}-${String(p.iteration).padStart(4, '0')}${ext}`;
      await writeImage(file, p.image);
    }
  };
}

export async function runStyle(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs('style', argv, {
    output: { type: 'string', short: 'o' },
    size: { type: 'number' },
    iterations: { type: 'string', short: 'n' },
    'content-weight': { type: 'number' },
    'style-weight': { type: 'number' },
    'tv-weight': { type: 'number' },
    'style-blend': { type: 'string' },
    init: { type: 'string' },
    seed: { type: 'number' },
    optimizer: { type: 'string' },
    'learning-rate': { type: 'number' },
    scales: { type: 'string' },
    'preserve-colors': { type: 'boolean' },
    tf32: { type: 'boolean' },
    model: { type: 'string', short: 'm' },
    backend: { type: 'string' },
    'save-every': { type: 'number' },
    json: { type: 'boolean' },
    mirror: { type: 'string' },
    memory: { type: 'boolean' },
  });
  reportMemoryAtExit('style', options.memory);
  if (positional.length < 2) throw new UsageError('eyecandy style: name a content image and one or more style images');
  const out = options.output as string | undefined;
  if (!out) throw new UsageError('eyecandy style: name the output image with -o FILE');
  if (!FORMATS.includes(path.extname(out).toLowerCase()))
    throw new UsageError(`eyecandy style: the output '${out}' must end in ${FORMATS.join(', ')}`);
  const [content, ...styleFiles] = positional;
  const blend = numbers('style-blend', options['style-blend']);
  if (blend && blend.length !== styleFiles.length)
    throw new UsageError(`eyecandy style: --style-blend has ${blend.length} weights for ${styleFiles.length} style images`);
  const saveEvery = options['save-every'] as number | undefined;
  if (saveEvery !== undefined && !(Number.isInteger(saveEvery) && saveEvery >= 1))
    throw new UsageError(`eyecandy style: --save-every expects a whole number of iterations >= 1 but received '${saveEvery}'`);
  const scales = numbers('scales', options.scales);
  const iterations = numbers('iterations', options.iterations);
  const start = Date.now();
  const tty = Boolean(process.stderr.isTTY);
  const init = options.init as string | undefined;
  const opts: StyleOptions = {
    model: (options.model as string | undefined) ?? 'vgg16',
    size: options.size as number | undefined,
    scales,
    iterations: iterations?.length === 1 ? iterations[0] : iterations,
    contentWeight: options['content-weight'] as number | undefined,
    styleWeight: options['style-weight'] as number | undefined,
    tvWeight: options['tv-weight'] as number | undefined,
    init,
    seed: options.seed as number | undefined,
    optimizer: options.optimizer as StyleOptions['optimizer'],
    learningRate: options['learning-rate'] as number | undefined,
    preserveColors: Boolean(options['preserve-colors']),
    tf32: Boolean(options.tf32),
    backend: options.backend as StyleOptions['backend'],
    mirror: options.mirror as string | undefined,
    progressImages: saveEvery !== undefined,
    onDownload: tty ? progressBar('model') : undefined,
    onProgress: tty || saveEvery ? progress(start, tty, saveEvery, out) : undefined,
  };
  try {
    checkOutputImage(out); // before the run, not after it
    const r = await style(content, styleFiles.map((image, i) => ({ image, weight: blend?.[i] ?? 1 })), opts);
    if (tty) process.stderr.write('\n');
    await writeImage(out, r.image);
    if (options.json) {
      const { image, ...rest } = r;
      const summary = { content, styles: styleFiles, output: out, width: image.width, height: image.height, ...rest };
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    } else {
      process.stdout.write(
        `${out}  ${r.image.width}x${r.image.height}  ${r.iterations} iterations  ${r.seconds.toFixed(1)} s\n` +
          `  initial ${terms(r.losses.initial)}\n  final   ${terms(r.losses.final)}\n`,
      );
    }
    return 0;
  } catch (err) {
    if (tty) process.stderr.write('\n');
    process.stderr.write(`eyecandy style: ${(err as Error).message}\n`);
    return 1;
  }
}
