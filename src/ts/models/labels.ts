// Class names: the ImageNet sets that ship with the package (dist/labels/,
// written at build time by scripts/labels.js), and labels files for other models.
import * as fs from 'fs';
import * as path from 'path';

import { invalidParameterError } from '../validate';

/** The package's root: the folder above this file (src/ts/models or dist/models) that holds package.json. */
function packageRoot(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'dist'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Reads a labels file: one class name a line, blank lines ignored; `expected` lines when given. */
export function readLabelsFile(file: string, expected?: number, who = 'labels'): string[] {
  if (typeof file !== 'string' || !file) throw invalidParameterError(who, 'labels', 'a path to a labels file', file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${who}: cannot read the labels file '${file}'`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length);
  if (expected !== undefined && lines.length !== expected)
    throw new Error(`${who}: '${file}' has ${lines.length} labels; the model has ${expected} classes`);
  return lines;
}

const packaged = new Map<number, string[]>();

/** The ImageNet class names shipped with the package for 1000 or 1001 (background first) outputs; undefined when not built. */
export function packagedImagenetLabels(classes: 1000 | 1001): string[] | undefined {
  if (packaged.has(classes)) return packaged.get(classes);
  const root = packageRoot();
  const file = root && path.join(root, 'dist', 'labels', `imagenet_labels_${classes}.txt`);
  if (!file || !fs.existsSync(file)) return undefined;
  const labels = readLabelsFile(file, classes);
  packaged.set(classes, labels);
  return labels;
}

/**
 * The labels a task prints: a file or list given by the caller (checked against the class count), else the model's own.
 */
export function resolveLabels(given: string | string[] | undefined, own: string[] | undefined, classes: number, who: string): string[] | undefined {
  if (given === undefined) return own;
  if (Array.isArray(given)) {
    if (given.length !== classes || given.some((l) => typeof l !== 'string'))
      throw new Error(`${who}: labels has ${given.length} entries; the model has ${classes} classes`);
    return given;
  }
  return readLabelsFile(given, classes, who);
}
