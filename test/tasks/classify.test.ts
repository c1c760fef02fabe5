// classify through the library and the CLI, on real photos and the real VGG19
// served from ../shared as a mirror (no network), into a temporary cache.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { loadModel } from '../../src/ts/models/load';
import { classify } from '../../src/ts/tasks/classify';

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const photo = (f: string) => path.join(shared, 'images/photos', f);
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-cache-'));
const opts = { model: 'vgg19-uint8', mirror: shared, cacheDir: cache };
const cli = path.resolve(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

test('the zoo model loads through the mirror into the cache, with labels', async () => {
  const m = await loadModel('vgg19-uint8', { mirror: shared, cacheDir: cache });
  expect(m.labels?.length).toBe(1000);
  expect(m.labels?.[243]).toBe('bull mastiff');
  expect(fs.existsSync(path.join(cache, 'models/vgg19-tfjs-uint8/group1-shard138of138.bin'))).toBe(true);
});

test('the image is read and checked before the model is loaded', async () => {
  // A model that cannot load: the old order reported it (after the load) instead of the image.
  const noModel = { model: path.join(os.tmpdir(), 'no-such-model.onnx') };
  await expect(classify('/nonexistent.jpg', noModel)).rejects.toThrow("image: cannot read '/nonexistent.jpg': no such file");
  await expect(classify(Buffer.from('not an image'), noModel)).rejects.toThrow(/^image: buffer of 12 bytes is not a readable image/);
  await expect(classify(photo('burger.jpg'), { ...noModel, topK: 0 })).rejects.toThrow(/topK/);
  // With a good image the model's own error comes through.
  await expect(classify(photo('burger.jpg'), noModel)).rejects.toThrow(/no-such-model\.onnx/);
});

test('the reference photos get the reference classes', async () => {
  const burger = await classify(photo('burger.jpg'), opts);
  expect(burger.classes[0]).toMatchObject({ index: 933, label: 'cheeseburger' });
  expect(burger.classes[0].probability).toBeGreaterThan(0.9);
  // The BMP decodes pixel-identical to the reference input, so the probabilities match DATA.md.
  const tabby = await classify(photo('tabby_cat_224.bmp'), { ...opts, topK: 3 });
  expect(tabby.classes.map((c) => c.index)).toEqual([281, 282, 285]);
  expect(tabby.classes[0].probability).toBeCloseTo(0.322, 3);
  const catDog = await classify(photo('cat_dog_224.png'), opts);
  expect(catDog.classes[0]).toMatchObject({ index: 243, label: 'bull mastiff' });
  expect(catDog.classes[0].probability).toBeCloseTo(0.4314, 3);
});

test('any size: the fully convolutional network sees the whole 1200x600 photo', async () => {
  const r = await classify(photo('cats_and_dogs.jpg'), { ...opts, anySize: true, topK: 10, pooling: 'mean_logits' });
  expect(r.inputSize).toEqual([224, 448]);
  expect(r.mapSize).toEqual([1, 8]);
  const dogs = r.classes.filter((c) => c.index >= 151 && c.index <= 268);
  expect(dogs.length).toBeGreaterThan(3);
  const max = await classify(photo('cats_and_dogs.jpg'), { ...opts, anySize: true, pooling: 'max_softmax' });
  expect(max.classes[0].probability).toBeGreaterThan(r.classes[0].probability);
  // The default keeps every window's winner: the poodle of the left columns and the corgi of the right ones.
  const union = await classify(photo('cats_and_dogs.jpg'), { ...opts, anySize: true });
  expect(union.classMap!.size).toEqual([1, 8]);
  const winners = union.classMap!.winners.map((w) => w.index);
  expect(winners.slice(0, 2)).toEqual([265, 265]);
  expect(winners.slice(3)).toEqual([263, 263, 263, 263, 263]);
  expect(union.classes.map((c) => c.index)).toEqual(expect.arrayContaining([265, 263]));
  const corgi = union.classMap!.classes.find((c) => c.index === 263)!;
  expect(corgi.wins).toEqual([[0, 3], [0, 4], [0, 5], [0, 6], [0, 7]]);
  expect(union.classMap!.classes.find((c) => c.index === 265)!.wins).toEqual(winners.flatMap((w, i) => (w === 265 ? [[0, i]] : [])));
  expect(corgi.probability).toBe(union.classes.find((c) => c.index === 263)!.probability);
});

test('bad options are refused before any work', async () => {
  await expect(classify(photo('burger.jpg'), { ...opts, topK: 0 })).rejects.toThrow(
    'classify: Expected integer between 1 and 1001 for topK but received 0 of type number',
  );
  await expect(classify(photo('burger.jpg'), { ...opts, model: 'vgg99' })).rejects.toThrow(
    "model: 'vgg99' is neither a zoo model (vgg16, vgg19, vgg19-uint8, mobilenet-v1-0.25) nor an existing file",
  );
  await expect(classify(path.join(shared, 'DATA.md'), opts)).rejects.toThrow(/^image: '.*DATA\.md' is not a readable image/);
});

test('offline with no mirror: the error says how to point at a file or a mirror', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-empty-'));
  // Offline (as every test is, see test/setup.ts) and no mirror: the URLs are not tried.
  const err = await loadModel('mobilenet-v1-0.25', { cacheDir: empty, mirror: '' }).catch((e: Error) => e);
  expect((err as Error).message).toContain('nothing (no mirror; offline, so the URLs were not tried)');
  expect((err as Error).message).toContain('pass --model PATH to use a local file, or set EYECANDY_MIRROR');
  fs.rmSync(empty, { recursive: true, force: true });
});

describe('CLI', () => {
  const env = { ...process.env, EYECANDY_MIRROR: shared, EYECANDY_CACHE: cache };

  test('eyecandy classify prints labels, indices and probabilities; --memory its peak (<= 0.85 GB)', async () => {
    const { stdout, stderr } = await run(process.execPath, [cli, 'classify', photo('burger.jpg'), photo('cat_dog_224.png'), '--model', 'vgg19-uint8', '--top', '3', '--memory'], { env });
    expect(stdout).toMatch(/burger\.jpg\n +\d+\.\d\d% +933  cheeseburger\n/);
    expect(stdout).toMatch(/cat_dog_224\.png\n +43\.1\d% +243  bull mastiff\n/);
    const m = /eyecandy classify: memory: peak RSS ([\d.]+) MB, RSS now [\d.]+ MB; native live cpu ([\d.]+) MB in (\d+) tensors \(peak ([\d.]+) MB\)/.exec(stderr);
    expect(m).not.toBeNull();
    const [peakRss, live, nativePeak] = [Number(m![1]), Number(m![2]), Number(m![4])];
    expect(peakRss * 1024 * 1024).toBeLessThanOrEqual(0.85e9);
    expect(nativePeak).toBeGreaterThan(548); // the weights (143,667,240 floats = 548 MiB) were live
    expect(nativePeak).toBeGreaterThanOrEqual(live);
  });

  test('--json and --any-size', async () => {
    const { stdout } = await run(process.execPath, [cli, 'classify', photo('cats_and_dogs.jpg'), '--model', 'vgg19-uint8', '--any-size', '--json'], { env });
    const [r] = JSON.parse(stdout);
    expect(r.mapSize).toEqual([1, 8]);
    expect(r.classes).toHaveLength(5);
    expect(r.classes[0]).toEqual(expect.objectContaining({ index: expect.any(Number), label: expect.any(String), probability: expect.any(Number) }));
  });

  test('a missing image fails with a clear message and exit code 1; a bad option exits 2', async () => {
    const bad = await run(process.execPath, [cli, 'classify', '/nonexistent.jpg', '--model', 'vgg19-uint8'], { env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("eyecandy classify: image: cannot read '/nonexistent.jpg': no such file");
    const usage = await run(process.execPath, [cli, 'classify', 'x.jpg', '--top'], { env }).catch((e) => e);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('eyecandy classify: --top needs a value');
  });

  test('eyecandy models list / verify / path', async () => {
    const list = await run(process.execPath, [cli, 'models', 'list'], { env });
    expect(list.stdout).toMatch(/^vgg16 +keras/m);
    expect(list.stdout).toMatch(/^vgg19-uint8 +tfjs +cached/m);
    const verify = await run(process.execPath, [cli, 'models', 'verify', 'vgg19-uint8'], { env });
    expect(verify.stdout).toBe('vgg19-uint8: ok (139 files)\n');
    const p = await run(process.execPath, [cli, 'models', 'path', 'vgg19-uint8'], { env });
    expect(p.stdout.trim()).toBe(path.join(cache, 'models/vgg19-tfjs-uint8/model.json'));
  });
});

test('the small zoo network (MobileNet, TFLite) classifies through the mirror', async () => {
  const r = await classify(photo('burger.jpg'), { model: 'mobilenet-v1-0.25', mirror: shared, cacheDir: cache, topK: 3 });
  // 1001 classes with 'background' first: the cheeseburger is 934 here (933 for VGG).
  expect(r.classes[0]).toMatchObject({ index: 934, label: 'cheeseburger' });
});
