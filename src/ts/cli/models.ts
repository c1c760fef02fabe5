// eyecandy models list|fetch|verify|path
import { cacheDir, localPath, progressBar, verifyFile } from '../models/zoo/download';
import { fetchModel, LABELS_FILE, ZOO, zooEntry } from '../models/zoo';
import { fetchFile } from '../models/zoo/download';
import { parseArgs, UsageError } from './args';

const SPEC = { json: { type: 'boolean' as const }, mirror: { type: 'string' as const }, 'cache-dir': { type: 'string' as const } };

export async function runModels(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { positional, options } = parseArgs(`models ${sub ?? ''}`.trim(), rest, SPEC);
  const fetchOptions = {
    mirror: options.mirror as string | undefined,
    cacheDir: (options['cache-dir'] as string | undefined) ?? cacheDir(),
  };
  const out = (s: string) => process.stdout.write(s + '\n');
  switch (sub) {
    case 'list':
    case undefined: {
      const rows = await Promise.all(
        ZOO.map(async (z) => ({
          name: z.name,
          format: z.format,
          description: z.description,
          cached: (await Promise.all(z.files.map((f) => verifyFile(localPath(f, fetchOptions.cacheDir), f.digest)))).every(Boolean),
        })),
      );
      if (options.json) out(JSON.stringify(rows, null, 2));
      else rows.forEach((r) => out(`${r.name.padEnd(18)} ${r.format.padEnd(6)} ${r.cached ? 'cached ' : '       '} ${r.description}`));
      return 0;
    }
    case 'fetch': {
      if (!positional.length) throw new UsageError('eyecandy models fetch: name one or more models');
      for (const name of positional) {
        const entry = zooEntry(name);
        const file = await fetchModel(name, { ...fetchOptions, onProgress: progressBar(name) });
        await fetchFile(LABELS_FILE, fetchOptions);
        out(`${entry.name}: ${file}`);
      }
      return 0;
    }
    case 'verify': {
      if (!positional.length) throw new UsageError('eyecandy models verify: name one or more models');
      let bad = 0;
      for (const name of positional) {
        const entry = zooEntry(name);
        const results = await Promise.all(entry.files.map((f) => verifyFile(localPath(f, fetchOptions.cacheDir), f.digest)));
        const missing = results.filter((r) => !r).length;
        out(missing ? `${name}: ${missing} of ${results.length} files missing or corrupt` : `${name}: ok (${results.length} files)`);
        if (missing) bad++;
      }
      return bad ? 1 : 0;
    }
    case 'path': {
      if (positional.length !== 1) throw new UsageError('eyecandy models path: name one model');
      out(localPath(zooEntry(positional[0]).files[0], fetchOptions.cacheDir));
      return 0;
    }
    default:
      throw new UsageError(`eyecandy models: unknown subcommand '${sub}'; expected list, fetch, verify or path`);
  }
}
