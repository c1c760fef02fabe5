#!/usr/bin/env node
// The eyecandy command line.
import { UsageError } from './args';
import { runClassify } from './classify';
import { runDoctor } from './doctor';
import { runDream } from './dream';
import { commandHelp } from './help';
import { runLocate } from './locate';
import { runModels } from './models';
import { runServe } from './serve';
import { runStyle } from './style';
import { runWorker } from './worker';

const USAGE = `usage: eyecandy <command> [options]

commands:
  classify IMG... [--top N] [--json] [--model NAME|PATH] [--labels FILE] [--any-size] [--size PX]
                  [--pooling window_union|mean_logits|max_softmax] [--out DIR]
                     top-N ImageNet classes of each image; any size: every window's
                     classes, where each wins, and (--out) a picture of the class map
  locate IMG [--top-k 20] [--components 4] [--report out.html] [--out DIR] [--json] [--labels FILE]
             [--seed windows|softmax|uniform] [--saliency features|pixels]
             [--side-view crop|features]
                     principal masks of the top classes: where each object is, and what
  dream IMG -o OUT [--layer NAME]... [--octaves N] [--steps N]
                     Deep Dream: amplify what a layer sees
  style CONTENT STYLE... -o OUT [--size PX] [--iterations N]
                     style transfer from noise (or the content) by L-BFGS
  models list|fetch|verify|path [NAME...]
                     the model zoo: what is cached, download, check, where
  doctor [--json]    version, backends compiled and available, SIMD level, threads
  serve [--host H] [--port N] [--model NAME|PATH] [--queue redis://HOST:PORT]
        [--max-batch N] [--batch-delay-ms MS] [--queue-size N] [--job-timeout S]
        [--api-key KEY]... [--mirror DIR] [--cache-dir DIR] [--shared-dir DIR]
                     the HTTP server: job API, batched classify, web page at /
  worker --queue redis://HOST:PORT [--model NAME|PATH] [--shared-dir DIR]
                     take jobs from a serve --queue node's Redis queue
  help [COMMAND]     this text, or COMMAND's full help (also: eyecandy COMMAND --help)

every task: --backend cpu|cuda|auto (default cpu; auto takes a GPU when one answers)
and, on a GPU, --tf32 (classify, locate, style: TF32 tensor cores, about 1e-3 relative).
--memory (classify, locate, dream, style): peak RSS and native tensor bytes on stderr at exit.

models: vgg16 (default), vgg19, vgg19-uint8, mobilenet-v1-0.25, or a path to a
.onnx, a .tflite, a TF.js model.json or a Keras .h5. Offline, set EYECANDY_MIRROR
to a folder or base URL holding the zoo's files (and EYECANDY_OFFLINE=1 to never
use the network), or pass --model PATH. The ImageNet class names ship with the
package; --labels FILE (one name a line) names another model's classes.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write((commandHelp(cmd) ?? USAGE) + '\n');
    return 0;
  }
  if (cmd === 'help' && rest.length) {
    const text = commandHelp(rest[0]);
    if (!text) throw new UsageError(`eyecandy help: unknown command '${rest[0]}'`);
    process.stdout.write(text + '\n');
    return 0;
  }
  switch (cmd) {
    case 'classify':
      return runClassify(rest);
    case 'locate':
      return runLocate(rest);
    case 'dream':
      return runDream(rest);
    case 'style':
      return runStyle(rest);
    case 'models':
      return runModels(rest);
    case 'doctor':
      return runDoctor(rest);
    case 'serve':
      return runServe(rest);
    case 'worker':
      return runWorker(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    default:
      throw new UsageError(`eyecandy: unknown command '${cmd}'`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`${err.message.startsWith('eyecandy') ? '' : 'eyecandy: '}${err.message}\n`);
      if (err instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
