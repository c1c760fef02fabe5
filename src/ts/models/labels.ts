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

/** Class names the caller gave: a list, or a labels file's lines (`file` names it for messages). */
export interface GivenLabels {
  names: string[];
  file?: string;
}

/**
 * Checks a `labels` option and reads its file now, before the task loads or runs anything, so a
 * missing or unreadable file fails at once; resolveLabels checks the count once the model is known.
 */
export function readGivenLabels(given: unknown, who: string): GivenLabels | undefined {
  if (given === undefined) return undefined;
  if (Array.isArray(given)) {
    if (given.some((l) => typeof l !== 'string')) throw invalidParameterError(who, 'labels', 'a path or a list of strings', given);
    return { names: given };
  }
  return { names: readLabelsFile(given as string, undefined, who), file: given as string };
}

/** The labels a task prints: those the caller gave (checked against the class count), else the model's own. */
export function resolveLabels(given: GivenLabels | undefined, own: string[] | undefined, classes: number, who: string): string[] | undefined {
  if (given === undefined) return own;
  if (given.names.length !== classes)
    throw new Error(
      given.file !== undefined
        ? `${who}: '${given.file}' has ${given.names.length} labels; the model has ${classes} classes`
        : `${who}: labels has ${given.names.length} entries; the model has ${classes} classes`,
    );
  return given.names;
}
