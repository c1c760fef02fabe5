// eyecandy locate IMG [--top-k 20] [--components 4] [--top N] [--json] [--out DIR] [--report FILE.html]
//                     [--model NAME|PATH] [--size PX] [--blur SIGMA] [--threshold T] [--seed windows|softmax|uniform]
//                     [--saliency features|pixels] [--side-view crop|features]
//                     [--objective logSoftmax|logit] [--pooling window_union|mean_logits|max_softmax]
//                     [--labels FILE] [--backend cpu|cuda|auto] [--tf32] [--mirror DIR]
import * as path from 'path';

import { readImage } from '../image/io';
import { progressBar } from '../models/zoo/download';
import { locate, LocateResult, LocateStep } from '../tasks/locate';
import { locateToJson, writeLocateReport } from '../tasks/report';
import { parseArgs, UsageError } from './args';
import { reportMemoryAtExit } from './memory';

const short = (label: string) => label.split(',')[0];
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The human-readable summary: the whole image's classes, then each principal mask and its sides. */
function summary(image: string, r: LocateResult, ms: number): string {
  const lines = [
    `${image}  (${r.model}, seen at ${r.maskSize[1]}x${r.maskSize[0]}, class map ${r.mapSize[0]}x${r.mapSize[1]}, ${(ms / 1000).toFixed(1)} s)`,
    `  classes: ${r.classes.slice(0, 5).map((c) => `${short(c.label)} ${pct(c.probability)}`).join(', ')}${r.classes.length > 5 ? ', ...' : ''}`,
  ];
  r.components.forEach((c, j) => {
    const pos = c.loadings.filter((l) => l.loading > 0).slice(0, 3);
    const neg = c.loadings.filter((l) => l.loading < 0).slice(0, 3);
    const fmt = (ls: typeof pos) => ls.map((l) => `${short(l.label)} ${l.loading.toFixed(2)}`).join(', ') || '-';
    lines.push(`  PC${j + 1}  ${pct(c.explainedVariance)} of the variance   + ${fmt(pos)}   - ${fmt(neg)}`);
    for (const s of c.sides) {
      const box = s.boxes[0];
      lines.push(
        `    ${s.sign === 'positive' ? '+' : '-'} eigen-${short(s.classes[0].label)}: centroid (${s.centroid.map(Math.round).join(', ')})` +
          (box ? `, box ${[box.x, box.y, box.width, box.height].map(Math.round).join(',')}` : '') +
          `, mass ${pct(s.mass)}`,
        `        ${s.classes.map((k) => `${pct(k.probability)} ${short(k.label)}`).join(' | ')}`,
      );
    }
  });
  return lines.join('\n') + '\n';
}

export async function runLocate(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs('locate', argv, {
    'top-k': { type: 'number', short: 'k' },
    components: { type: 'number', short: 'c' },
    top: { type: 'number', short: 'n' },
    json: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
    report: { type: 'string' },
    model: { type: 'string', short: 'm' },
    size: { type: 'number' },
    blur: { type: 'number' },
    threshold: { type: 'number' },
    seed: { type: 'string' },
    objective: { type: 'string' },
    saliency: { type: 'string' },
    'side-view': { type: 'string' },
    pooling: { type: 'string' },
    labels: { type: 'string' },
    backend: { type: 'string' },
    tf32: { type: 'boolean' },
    mirror: { type: 'string' },
    memory: { type: 'boolean' },
  });
  reportMemoryAtExit('locate', options.memory);
  if (positional.length !== 1) throw new UsageError('eyecandy locate: name one image');
  const [image] = positional;
  const tty = process.stderr.isTTY;
  try {
    const src = await readImage(image);
    const start = Date.now();
    const r = await locate(src, {
      model: (options.model as string | undefined) ?? 'vgg16',
      topK: options['top-k'] as number | undefined,
      components: options.components as number | undefined,
      topN: options.top as number | undefined,
      size: options.size as number | undefined,
      blurSigma: options.blur as number | undefined,
      maskThreshold: options.threshold as number | undefined,
      seed: options.seed as 'windows' | undefined,
      objective: options.objective as 'logSoftmax' | undefined,
      saliency: options.saliency as 'features' | undefined,
      sideView: options['side-view'] as 'crop' | undefined,
      pooling: options.pooling as 'window_union' | undefined,
      labels: options.labels as string | undefined,
      backend: options.backend as 'cpu' | undefined,
      tf32: Boolean(options.tf32),
      mirror: options.mirror as string | undefined,
      onProgress: tty ? progressBar('model') : undefined,
      onStep: tty ? (step: LocateStep, done: number, total: number) => process.stderr.write(`\r${step} ${done}/${total}   ${done === total ? '\n' : ''}`) : undefined,
    });
    const ms = Date.now() - start;
    const files = await writeLocateReport(src, r, {
      outDir: options.out as string | undefined,
      html: options.report as string | undefined,
      title: path.basename(image),
    });
    if (options.json) process.stdout.write(JSON.stringify({ image, ...locateToJson(r) }, null, 2) + '\n');
    else process.stdout.write(summary(image, r, ms) + files.map((f) => `  wrote ${f}\n`).join(''));
    return 0;
  } catch (err) {
    process.stderr.write(`eyecandy locate: ${(err as Error).message}\n`);
    return 1;
  }
}
