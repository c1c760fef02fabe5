// The ImageNet class names ship with the package (dist/labels/, written by the
// build from a development dependency): offline, with no mirror and a model
// given by path, classify still names its classes. --labels names another set.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { readImage } from '../../src/ts/image/io';
import { packagedImagenetLabels, readLabelsFile } from '../../src/ts/models/labels';
import { classify } from '../../src/ts/tasks/classify';
import { locate } from '../../src/ts/tasks/locate';
import { SHARED } from '../reference';

const cli = path.resolve(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-labels-'));
const tflite = path.join(SHARED, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224_1_default_1.tflite');
const burger = path.join(SHARED, 'images/photos/burger.jpg');
// Offline (test/setup.ts sets EYECANDY_OFFLINE), no mirror, an empty cache: nothing to fetch labels from.
const env = { ...process.env, EYECANDY_MIRROR: '', EYECANDY_CACHE: path.join(tmp, 'cache') };

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the packaged names are the standard ILSVRC-2012 names in synset order (1000, and 1001 with background)', () => {
  const shared = (n: number) => readLabelsFile(path.join(SHARED, `labels/imagenet_labels_${n}.txt`), n);
  expect(packagedImagenetLabels(1000)).toEqual(shared(1000));
  expect(packagedImagenetLabels(1001)).toEqual(shared(1001));
  expect(packagedImagenetLabels(1001)![0]).toBe('background');
  expect(packagedImagenetLabels(1000)![281]).toBe('tabby, tabby cat');
});

test('offline, no mirror, --model PATH: classify prints class names', async () => {
  const { stdout } = await run(process.execPath, [cli, 'classify', burger, '--model', tflite, '--top', '2'], { env });
  expect(stdout).toMatch(/burger\.jpg\n +\d+\.\d\d% +934  cheeseburger\n/);
});

test('--labels FILE names the classes; a file of the wrong length is refused', async () => {
  const file = path.join(tmp, 'mine.txt');
  fs.writeFileSync(file, Array.from({ length: 1001 }, (_, i) => `thing ${i}`).join('\n') + '\n');
  const { stdout } = await run(process.execPath, [cli, 'classify', burger, '--model', tflite, '--top', '1', '--labels', file], { env });
  expect(stdout).toMatch(/ 934  thing 934\n/);
  const short = path.join(tmp, 'short.txt');
  fs.writeFileSync(short, 'a\nb\n');
  const bad = await run(process.execPath, [cli, 'classify', burger, '--model', tflite, '--labels', short], { env }).catch((e) => e);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain(`eyecandy classify: classify: '${short}' has 2 labels; the model has 1001 classes`);
});

test('--any-size shows the class map: where each class wins, and its picture with --out', async () => {
  const out = path.join(tmp, 'out');
  const photo = path.join(SHARED, 'images/photos/cats_and_dogs.jpg');
  const vgg = ['--model', 'vgg19-uint8'];
  const mirrored = { ...env, EYECANDY_MIRROR: SHARED };
  const { stdout } = await run(process.execPath, [cli, 'classify', photo, ...vgg, '--any-size', '--out', out], { env: mirrored });
  expect(stdout).toMatch(/cats_and_dogs\.jpg +\(class map 1x8\)\n/);
  expect(stdout).toMatch(/% +263  Pembroke.* \(wins 5 of 8 windows: 0,3 0,4 0,5 0,6 0,7\)\n/);
  const img = await readImage(path.join(out, 'cats_and_dogs-classmap.png'));
  // The photo (1200×600) with a legend below it: a 22-px row per winning class, each with its colour swatch.
  expect(img.width).toBe(1200);
  const rows = (img.height - 600 - 6) / 22;
  expect(Number.isInteger(rows) && rows >= 2).toBe(true);
  const pixel = (x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
  expect(pixel(13, 600 + 6 + 7)).toEqual([230, 40, 40]); // the first class's swatch
  expect(pixel(13, 600 + 6 + 22 + 7)).toEqual([40, 110, 240]); // the second's
  expect(pixel(13, 600 + 6 + 22 * (rows - 1) + 7)).not.toEqual([255, 255, 255]); // the last row holds a swatch too
  const { stdout: json } = await run(process.execPath, [cli, 'classify', photo, ...vgg, '--any-size', '--json', '--pooling', 'max_softmax'], { env: mirrored });
  const [r] = JSON.parse(json);
  expect(r.classMap.winners).toHaveLength(r.mapSize[0] * r.mapSize[1]);
  expect(r.classMap.classes.map((c: { index: number }) => c.index)).toEqual(r.classes.map((c: { index: number }) => c.index));
});

test('a labels file that cannot be read is refused before the model is loaded', async () => {
  const model = path.join(tmp, 'no-such-model.onnx'); // would fail too, but later
  const labels = path.join(tmp, 'no-such-labels.txt');
  await expect(classify(burger, { model, labels })).rejects.toThrow(`classify: cannot read the labels file '${labels}'`);
  await expect(locate(burger, { model, labels })).rejects.toThrow(`locate: cannot read the labels file '${labels}'`);
  await expect(classify(burger, { model, labels: ['a', 3] as unknown as string[] })).rejects.toThrow(
    'classify: Expected a path or a list of strings for labels',
  );
});
