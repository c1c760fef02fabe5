// The output file of a command that runs for a while (dream, style) is checked
// before the run, so a typo in -o fails at once rather than after minutes of work.
import * as fs from 'fs';
import * as path from 'path';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** Throws when `file` cannot be written as an image: unknown extension, missing or unwritable folder, a folder in its place. */
export function checkOutputImage(file: string): void {
  const ext = path.extname(file).toLowerCase();
  if (!IMAGE_EXTENSIONS.includes(ext)) throw new Error(`the output '${file}' must end in ${IMAGE_EXTENSIONS.join(', ')}`);
  const dir = path.dirname(path.resolve(file));
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new Error(`the output '${file}' is a folder; name an image file`);
  if (!st) {
    let d: fs.Stats;
    try {
      d = fs.statSync(dir);
    } catch {
      throw new Error(`cannot write the output '${file}': its folder '${dir}' does not exist`);
    }
    if (!d.isDirectory()) throw new Error(`cannot write the output '${file}': '${dir}' is not a folder`);
  }
  try {
    fs.accessSync(st ? file : dir, fs.constants.W_OK);
  } catch {
    throw new Error(`cannot write the output '${file}': ${st ? 'the file' : `its folder '${dir}'`} is not writable`);
  }
}
