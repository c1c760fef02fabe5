// eyecandy classify IMG... [--top N] [--json] [--model NAME|PATH] [--any-size] [--backend B] [--tf32]
import { progressBar } from '../models/zoo/download';
import { classify, ClassifyResult } from '../tasks/classify';
import { parseArgs, UsageError } from './args';

export async function runClassify(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs('classify', argv, {
    top: { type: 'number', short: 'n' },
    json: { type: 'boolean' },
    model: { type: 'string', short: 'm' },
    'any-size': { type: 'boolean' },
    size: { type: 'number' },
    pooling: { type: 'string' },
    backend: { type: 'string' },
    tf32: { type: 'boolean' },
    mirror: { type: 'string' },
  });
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
        pooling: options.pooling as 'mean_logits' | undefined,
        backend: options.backend as 'cpu' | undefined,
        tf32: Boolean(options.tf32),
        mirror: options.mirror as string | undefined,
        onProgress: process.stderr.isTTY ? progressBar(`model`) : undefined,
      });
      results.push({ image, ...r });
      if (!options.json) {
        process.stdout.write(`${image}${r.mapSize ? `  (class map ${r.mapSize[0]}x${r.mapSize[1]})` : ''}\n`);
        for (const c of r.classes)
          process.stdout.write(`  ${(c.probability * 100).toFixed(2).padStart(6)}%  ${String(c.index).padStart(4)}  ${c.label}\n`);
      }
    } catch (err) {
      failed++;
      process.stderr.write(`eyecandy classify: ${(err as Error).message}\n`);
    }
  }
  if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  return failed ? 1 : 0;
}
