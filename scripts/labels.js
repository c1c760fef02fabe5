#!/usr/bin/env node
// Build step: writes the ImageNet class names into dist/labels/ so that they ship
// with the package and no model needs a download or a mirror to name its classes.
// The names come from a development dependency that carries them
// (@tensorflow-models/mobilenet, Apache-2.0) in the standard ILSVRC-2012 synset
// order; a published package already holds the generated files.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'labels');
const files = { 1000: path.join(out, 'imagenet_labels_1000.txt'), 1001: path.join(out, 'imagenet_labels_1001.txt') };

/** Where the package's spelling differs from the WordNet synset's first lemma. */
const CORRECTIONS = { 107: 'jellyfish' };

let classes;
try {
  classes = require('@tensorflow-models/mobilenet/dist/imagenet_classes.js').IMAGENET_CLASSES;
} catch {
  if (fs.existsSync(files[1000]) && fs.existsSync(files[1001])) process.exit(0); // shipped with the package
  process.stderr.write('labels: @tensorflow-models/mobilenet is not installed, so dist/labels/ was not written; ' +
    'models will name their classes only through a mirror or --labels FILE\n');
  process.exit(0);
}
const names = Array.from({ length: 1000 }, (_, i) => CORRECTIONS[i] ?? classes[i]);
const bad = names.findIndex((n) => typeof n !== 'string' || !n.trim() || n.includes('\n'));
if (bad >= 0) throw new Error(`labels: class ${bad} has no usable name (${JSON.stringify(names[bad])})`);
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(files[1000], names.join('\n') + '\n');
fs.writeFileSync(files[1001], ['background', ...names].join('\n') + '\n');
