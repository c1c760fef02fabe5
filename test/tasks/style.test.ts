// style on real data: Tübingen in the style of The Starry Night with the real
// VGG19 from ../shared, at small sizes so that the file runs in well under a
// minute on two cores.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { Image, readImage, resizeImage } from '../../src/ts/image/io';
import { featureGraph } from '../../src/ts/nn/rewrites/features';
import { loadModel, Model } from '../../src/ts/models/load';
import { imageToInput } from '../../src/ts/models/preprocess';
import { Network } from '../../src/ts/nn/network';
import { style, StyleProgress, StyleResult } from '../../src/ts/tasks/style';

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const content = path.join(shared, 'images/content/tubingen.jpg');
const starry = path.join(shared, 'images/style/starry_night.jpg');
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-cache-'));
const fetchOpts = { mirror: shared, cacheDir: cache };
const STYLE_LAYERS = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

let model: Model;
let grams: Network;
let result: StyleResult;
const progress: StyleProgress[] = [];

beforeAll(async () => {
  model = await loadModel('vgg19-uint8', fetchOpts);
  const g = featureGraph(model);
  STYLE_LAYERS.forEach((l) => g.gram(`gram/${l}`, l));
  grams = g.compile();
});
afterAll(() => {
  grams?.dispose();
  fs.rmSync(cache, { recursive: true, force: true });
});

async function gramsOf(img: Image): Promise<Float32Array[]> {
  const out = await grams.forward(imageToInput(img, model.preprocess), { taps: STYLE_LAYERS.map((l) => `gram/${l}`) });
  return STYLE_LAYERS.map((l) => out[`gram/${l}`].data());
}

/** Mean over the style layers of the squared Gram error relative to the target's mean square. */
function styleDistance(a: Float32Array[], b: Float32Array[]): number {
  let sum = 0;
  a.forEach((ga, k) => {
    let err = 0;
    let norm = 0;
    ga.forEach((v, i) => ((err += (v - b[k][i]) ** 2), (norm += b[k][i] ** 2)));
    sum += err / norm;
  });
  return sum / a.length;
}

/** Mean I and Q (YIQ chroma) of an image. */
function chroma(img: Image): [number, number] {
  let i = 0;
  let q = 0;
  const d = img.data;
  for (let p = 0; p < d.length; p += 3) {
    i += 0.596 * d[p] - 0.274 * d[p + 1] - 0.322 * d[p + 2];
    q += 0.211 * d[p] - 0.523 * d[p + 1] + 0.312 * d[p + 2];
  }
  return [i / (d.length / 3), q / (d.length / 3)];
}

test('Tübingen from noise in the style of The Starry Night: the losses fall, the Grams approach the painting', async () => {
  result = await style(content, [starry], { model, size: 96, iterations: 60, onProgress: (p) => void progress.push(p) });
  expect([result.image.width, result.image.height]).toEqual([96, 72]);
  expect(result.image.data.length).toBe(96 * 72 * 3);
  expect(result.iterations).toBe(60);
  expect(result.scales).toHaveLength(1);
  expect(progress.map((p) => p.iteration)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  expect(progress.every((p) => p.image === undefined && p.scales === 1 && p.iterations === 60)).toBe(true);
  // L-BFGS with Armijo steps: the total only goes down.
  progress.slice(1).forEach((p, i) => expect(p.loss).toBeLessThanOrEqual(progress[i].loss));
  const { initial, final } = result.losses;
  expect(final.style).toBeLessThan(initial.style / 5);
  expect(final.content).toBeLessThan(initial.content);
  expect(final.tv).toBeLessThan(initial.tv / 3);
  expect(final.total).toBeCloseTo(final.content + final.style + final.tv, 10);
  // A picture, not a saturated field: pixels spread over the range, few clipped.
  const px = result.image.data;
  const clipped = px.reduce((n, v) => n + (v === 0 || v === 255 ? 1 : 0), 0) / px.length;
  const mean = px.reduce((a, v) => a + v, 0) / px.length;
  expect(clipped).toBeLessThan(0.1);
  expect(mean).toBeGreaterThan(50);
  expect(mean).toBeLessThan(200);
  // Judged by Grams the network computes independently of the task: the result is far closer
  // to the painting than the photo is.
  const painting = await gramsOf(await readImage(starry, { resize: { width: 96 } }));
  const photo = await resizeImage(await readImage(content), { width: 96, height: 72, mode: 'squash' });
  const dResult = styleDistance(await gramsOf(result.image), painting);
  const dPhoto = styleDistance(await gramsOf(photo), painting);
  expect(dResult).toBeLessThan(dPhoto / 4);
});

test('each term alone falls by an order of magnitude from noise (style MSE; content RMS, i.e. 100x in MSE)', async () => {
  const styleOnly = await style(content, [starry], { model, size: 64, iterations: 40, contentWeight: 0, tvWeight: 0 });
  expect(styleOnly.losses.final.style).toBeLessThan(styleOnly.losses.initial.style / 10);
  expect(styleOnly.losses.final.content).toBe(0);
  const contentOnly = await style(content, [starry], { model, size: 64, iterations: 100, styleWeight: 0, tvWeight: 0 });
  expect(contentOnly.losses.final.content).toBeLessThan(contentOnly.losses.initial.content / 10);
});

test('two scales from the content image; preserveColors keeps the photo colours', async () => {
  const r = await style(content, [starry, { image: path.join(shared, 'images/style/the_scream.jpg'), weight: 0.5 }], {
    model,
    scales: [48, 96],
    iterations: [20, 10],
    init: 'content',
    preserveColors: true,
  });
  expect(r.scales.map((s) => s.size)).toEqual([[36, 48], [72, 96]]);
  expect(r.iterations).toBe(30);
  const photo = await resizeImage(await readImage(content), { width: 96, height: 72, mode: 'squash' });
  const [pi, pq] = chroma(photo);
  const [ri, rq] = chroma(r.image);
  expect(Math.abs(ri - pi)).toBeLessThan(2);
  expect(Math.abs(rq - pq)).toBeLessThan(2);
  // Without it the painting's blues take over (the first test's result).
  const [si, sq] = chroma(result.image);
  expect(Math.hypot(si - pi, sq - pq)).toBeGreaterThan(5);
});

test('Adam also lowers the loss, and progress images come when asked', async () => {
  const images: Image[] = [];
  const r = await style(content, [starry], {
    model, size: 48, iterations: 20, optimizer: 'adam', progressImages: true,
    onProgress: (p) => void images.push(p.image!),
  });
  expect(r.losses.final.total).toBeLessThan(r.losses.initial.total / 2);
  expect(images).toHaveLength(20);
  expect([images[0].width, images[0].height]).toEqual([48, 36]);
});

test('an AbortSignal stops the run between iterations', async () => {
  const controller = new AbortController();
  let last = 0;
  const run = style(content, [starry], {
    model, size: 64, iterations: 50, signal: controller.signal,
    onProgress: (p) => {
      last = p.iteration;
      if (p.iteration === 3) controller.abort();
    },
  });
  await expect(run).rejects.toMatchObject({ name: 'AbortError', message: 'style: aborted' });
  expect(last).toBe(3);
  await expect(style(content, [starry], { model, size: 64, signal: controller.signal })).rejects.toThrow('style: aborted');
});

test('bad options are refused before any work, with pinned messages', async () => {
  const onProgress = jest.fn();
  const o = { model, size: 64, iterations: 5, onProgress };
  await expect(style(content, [starry], { ...o, contentLayers: ['block9_conv1'] })).rejects.toThrow(
    "style: Expected one of the model's layers for contentLayers[0] but received 'block9_conv1' of type string",
  );
  await expect(style(content, [starry], { ...o, styleLayers: ['block1_conv1', 'fc1'] })).rejects.toThrow(
    "style: Expected one of the model's layers for styleLayers[1] but received 'fc1' of type string",
  );
  await expect(style(content, [starry], { ...o, styleWeight: NaN })).rejects.toThrow(
    'style: Expected finite number for styleWeight but received NaN of type number',
  );
  await expect(style(content, [starry], { ...o, tvWeight: -1 })).rejects.toThrow(
    'style: Expected number >= 0 for tvWeight but received -1 of type number',
  );
  // Option errors come before the images are read: a missing file is not what is reported.
  await expect(style('/no/such.jpg', [starry], { ...o, size: 0 })).rejects.toThrow(
    'style: Expected integer between 16 and 4096 for size but received 0 of type number',
  );
  await expect(style(content, [starry], { ...o, size: undefined, scales: [128, 64] })).rejects.toThrow(
    'style: Expected integer between 128 and 4096 for scales[1] but received 64 of type number',
  );
  await expect(style(content, [starry], { ...o, optimizer: 'sgd' as 'adam' })).rejects.toThrow(
    "style: Expected one of 'lbfgs', 'adam' for optimizer but received 'sgd' of type string",
  );
  await expect(style(content, [], o)).rejects.toThrow('style: Expected one or more style images for styles but received [] of type object');
  await expect(style(content, ['/no/such.jpg'], o)).rejects.toThrow("image: cannot read '/no/such.jpg': no such file");
  await expect(style(content, [path.join(shared, 'DATA.md')], o)).rejects.toThrow(/^image: '.*DATA\.md' is not a readable image/);
  await expect(style(content, [starry], { ...o, model: 'vgg99' })).rejects.toThrow(/^model: 'vgg99' is neither a zoo model/);
  expect(onProgress).not.toHaveBeenCalled();
});

test('the CLI checks -o before the run (a missing folder fails at once, not after the work)', async () => {
  const cli = path.resolve(__dirname, '../../dist/cli/main.js');
  const out = path.join(cache, 'no-such-dir', 'out.png');
  // The model cannot load: an error about -o shows the check came first.
  const r = await promisify(execFile)('node', [cli, 'style', content, starry, '-o', out, '--model', path.join(cache, 'no-such-model.onnx')], {
    env: { ...process.env, EYECANDY_CACHE: cache },
  }).catch((e) => e);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`eyecandy style: cannot write the output '${out}': its folder '${path.dirname(out)}' does not exist`);
  expect(r.stderr).not.toContain('no-such-model');
});

test('the CLI writes the picture and reports the losses as JSON', async () => {
  const out = path.join(cache, 'out.png');
  const cli = path.resolve(__dirname, '../../dist/cli/main.js');
  const { stdout } = await promisify(execFile)(
    'node',
    [cli, 'style', content, starry, '-o', out, '--size', '48', '--iterations', '8', '--model', 'vgg19-uint8', '--mirror', shared, '--json'],
    { env: { ...process.env, EYECANDY_CACHE: cache } },
  );
  const r = JSON.parse(stdout);
  expect([r.width, r.height, r.iterations, r.output]).toEqual([48, 36, 8, out]);
  expect(r.losses.final.total).toBeLessThan(r.losses.initial.total);
  const img = await readImage(out);
  expect([img.width, img.height]).toEqual([48, 36]);
});
