// eyecandy classify IMG... [--top N] [--json] [--model NAME|PATH] [--labels FILE] [--any-size]
//                         [--pooling window_union|mean_logits|max_softmax] [--out DIR] [--backend B] [--tf32]
import * as fs from 'fs';
import * as path from 'path';

import { readImage, writeImage } from '../image/io';
import { progressBar } from '../models/zoo/download';
import { classMapPicture } from '../tasks/class-map-image';
import { classify, ClassifyResult } from '../tasks/classify';
import { parseArgs, UsageError } from './args';
import { reportMemoryAtExit } from './memory';

export async function runClassify(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs('classify', argv, {
    top: { type: 'number', short: 'n' },
    json: { type: 'boolean' },
    model: { type: 'string', short: 'm' },
    'any-size': { type: 'boolean' },
    size: { type: 'number' },
    pooling: { type: 'string' },
    labels: { type: 'string' },
    out: { type: 'string', short: 'o' },
    backend: { type: 'string' },
    tf32: { type: 'boolean' },
    mirror: { type: 'string' },
    memory: { type: 'boolean' },
  });
  reportMemoryAtExit('classify', options.memory);
  if (!positional.length) throw new UsageError('eyecandy classify: name one or more images');
  const results: (ClassifyResult & { image: string })[] = [];
  let failed = 0;
  for (const image of positional) {
    try {
      const r = await classify(image, {
        model: (options.model as string | undefined) ?? 'vgg16',
        topK: (options.top as number | undefined) ?? 5,
        anySize: Boolean(options['any-size']),
        size: options.size as number | undefined,
        pooling: options.pooling as 'window_union' | undefined,
        labels: options.labels as string | undefined,
        backend: options.backend as 'cpu' | undefined,
        tf32: Boolean(options.tf32),
        mirror: options.mirror as string | undefined,
        onProgress: process.stderr.isTTY ? progressBar(`model`) : undefined,
      });
      results.push({ image, ...r });
      const mapFile = r.classMap && options.out ? path.join(options.out as string, `${path.parse(image).name}-classmap.png`) : undefined;
      if (mapFile) {
        fs.mkdirSync(options.out as string, { recursive: true });
        await writeImage(mapFile, await classMapPicture(await readImage(image), r.classMap!));
      }
      if (!options.json) {
        process.stdout.write(`${image}${r.mapSize ? `  (class map ${r.mapSize[0]}x${r.mapSize[1]})` : ''}\n`);
        for (const [i, c] of r.classes.entries()) {
          const wins = r.classMap?.classes[i].wins;
          const where = wins ? `  (wins ${wins.length} of ${r.mapSize![0] * r.mapSize![1]} windows${wins.length ? `: ${wins.map(([y, x]) => `${y},${x}`).join(' ')}` : ''})` : '';
          process.stdout.write(`  ${(c.probability * 100).toFixed(2).padStart(6)}%  ${String(c.index).padStart(4)}  ${c.label}${where}\n`);
        }
        if (mapFile) process.stdout.write(`  wrote ${mapFile}\n`);
      }
    } catch (err) {
      failed++;
      process.stderr.write(`eyecandy classify: ${(err as Error).message}\n`);
    }
  }
  if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  return failed ? 1 : 0;
}
