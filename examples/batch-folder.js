#!/usr/bin/env node
// Renders every image of a folder, with a progress bar: classify each (default), or dream each.
//
//   node examples/batch-folder.js photos/                     # one line of classes per image
//   node examples/batch-folder.js photos/ --dream --out dreams/ --size 256
//   node examples/batch-folder.js photos/ --dream --small     # CI size: 96 px, 1 octave, 2 steps
//
// The model is loaded once and reused for every image. MODEL picks it (default vgg19-uint8).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { classify, dream, loadModel, readImage, resizeImage, writeImage } = require('eyecandy');

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const folder = args.find((a, i) => !a.startsWith('--') && !['--out', '--size'].includes(args[i - 1]));
const small = flag('--small') || process.env.EYECANDY_EXAMPLE_SMALL === '1';
const doDream = flag('--dream');
const out = value('--out', 'out');
const size = Number(value('--size', small ? 96 : 256));
const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff']);

/** One line redrawn in place: [#####-----] 3/5  name. */
function progress(done, total, label) {
  const width = 24;
  const filled = Math.round((done / total) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  process.stderr.write(`\r[${bar}] ${done}/${total}  ${label}\x1b[K${done === total ? '\n' : ''}`);
}

async function main() {
  if (!folder) throw new Error('name a folder of images: node examples/batch-folder.js DIR [--dream] [--out DIR] [--size PX] [--small]');
  if (!Number.isInteger(size) || size < 32) throw new Error(`--size expects a whole number of pixels >= 32 but received '${value('--size')}'`);
  const files = fs
    .readdirSync(folder)
    .filter((f) => EXTENSIONS.has(path.extname(f).toLowerCase()))
    .sort();
  if (!files.length) throw new Error(`no images in '${folder}'`);
  const model = await loadModel(process.env.MODEL ?? 'vgg19-uint8');
  if (doDream) fs.mkdirSync(out, { recursive: true });
  const started = Date.now();
  let failed = 0;
  for (let i = 0; i < files.length; ++i) {
    const file = path.join(folder, files[i]);
    progress(i, files.length, files[i]);
    try {
      if (doDream) {
        const img = await readImage(file);
        const scaled = await resizeImage(img, img.width >= img.height ? { width: size } : { height: size });
        const r = await dream(scaled, { model, ...(small ? { octaves: 1, steps: 2 } : { octaves: 3, steps: 10 }) });
        const target = path.join(out, `${path.parse(files[i]).name}-dream.png`);
        await writeImage(target, r.image);
        process.stdout.write(`${files[i]}\t${target}\t${r.image.width}x${r.image.height}\tobjective x${(r.objective.final / r.objective.initial).toFixed(2)}\n`);
      } else {
        const r = await classify(file, { model, topK: 3 });
        const classes = r.classes.map((c) => `${c.label.split(',')[0]} ${(100 * c.probability).toFixed(1)}%`).join(', ');
        process.stdout.write(`${files[i]}\t${classes}\n`);
      }
    } catch (err) {
      failed++;
      process.stdout.write(`${files[i]}\terror: ${err.message}\n`);
    }
  }
  progress(files.length, files.length, `done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`batch-folder: ${err.message}`);
    process.exitCode = 1;
  },
);
