// dream through the library and the CLI on real photos and the real VGG19
// (served from ../shared as a mirror, no network), at small sizes to stay fast.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { Image, readImage } from '../../src/ts/image/io';
import { dot, norm2 } from '../../src/ts/linalg';
import { featureGraph } from '../../src/ts/nn/rewrites/features';
import { loadModel } from '../../src/ts/models/load';
import { imageToInput, inputRange } from '../../src/ts/models/preprocess';
import { Graph } from '../../src/ts/nn/graph';
import { tidy } from '../../src/ts/tensor';
import { ascend, dream, DreamProgress } from '../../src/ts/tasks/dream';
import { evaluate, planAxis } from '../../src/ts/tasks/dream/gradient';
import { checkDreamOptions } from '../../src/ts/tasks/dream/options';
import { prepareDream, resolveObjective } from '../../src/ts/tasks/dream/setup';

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const photo = (f: string) => path.join(shared, 'images/photos', f);
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-cache-'));
const opts = { model: 'vgg19-uint8', mirror: shared, cacheDir: cache };
const cli = path.resolve(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

let catDog: Image; // 160x120
beforeAll(async () => {
  catDog = await readImage(photo('cat_dog.jpg'), { resize: { width: 160 } });
});
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

/** sqrt(Σ A²) of a layer on an image, from a fresh network. */
async function layerNorm(img: Image, layer: string): Promise<number> {
  const model = await loadModel('vgg19-uint8', opts);
  const g = Graph.fromNodes(featureGraph(model).nodes());
  g.sumSquares('dream-test/ss', layer);
  const net = g.compile();
  try {
    return await tidy(async () => Math.sqrt((await net.forward(imageToInput(img, model.preprocess), { taps: ['dream-test/ss'] }))['dream-test/ss'].item()));
  } finally {
    net.dispose();
  }
}

/** The objective context dream() would build, for the gradient and range checks. */
async function context(img: Image, options: Parameters<typeof checkDreamOptions>[0]) {
  const o = checkDreamOptions({ ...opts, ...options });
  const p = await prepareDream(o);
  return { ...resolveObjective(p, o, img), preprocess: p.model.preprocess };
}

test('dream raises the layer L2 norm several-fold and keeps the photo', async () => {
  const steps: DreamProgress[] = [];
  const r = await dream(catDog, { ...opts, layers: ['block4_conv1'], octaves: 2, steps: 12, stepSize: 4, jitter: 8, onProgress: (p) => steps.push(p) });
  expect([r.image.width, r.image.height]).toEqual([160, 120]);
  expect(r.octaveSizes).toEqual([[86, 114], [120, 160]]);
  expect(steps.length).toBe(24);
  expect(steps[23]).toMatchObject({ octave: 2, octaves: 2, step: 12, steps: 12, width: 160, height: 120 });
  expect(steps[23].image).toBeUndefined();
  // The reported values agree with a fresh forward pass on the input and on the result.
  const before = await layerNorm(catDog, 'block4_conv1');
  const after = await layerNorm(r.image, 'block4_conv1');
  expect(r.objective.initial / before).toBeCloseTo(1, 4);
  expect(r.objective.final / after).toBeCloseTo(1, 4);
  expect(after / before).toBeGreaterThanOrEqual(3);
  // Changed, but still the photo: the mean absolute change stays well under a third of the range.
  let diff = 0;
  for (let i = 0; i < catDog.data.length; ++i) diff += Math.abs(r.image.data[i] - catDog.data[i]);
  diff /= catDog.data.length;
  expect(diff).toBeGreaterThan(5);
  expect(diff).toBeLessThan(60);
});

test('pixels stay in the valid range even with huge steps', async () => {
  const small = await readImage(photo('cat_dog.jpg'), { resize: { width: 64 } });
  const { ctx, dispose, preprocess } = await context(small, { layers: ['block3_conv1'] });
  const range = inputRange(preprocess);
  try {
    await tidy(async () => {
      const x = imageToInput(small, preprocess);
      let r = 0;
      await ascend(ctx, x, { steps: 3, stepSize: 500, jitter: 4, random: () => (r = (r + 0.37) % 1), range });
      const v = x.data();
      let atEdge = 0;
      for (let i = 0; i < v.length; ++i) {
        const c = i % 3;
        expect(v[i]).toBeGreaterThanOrEqual(range.lo[c] - 1e-3);
        expect(v[i]).toBeLessThanOrEqual(range.hi[c] + 1e-3);
        if (v[i] <= range.lo[c] + 1e-3 || v[i] >= range.hi[c] - 1e-3) ++atEdge;
      }
      expect(atEdge).toBeGreaterThan(v.length / 10); // the clamp really was needed
    });
  } finally {
    dispose();
  }
});

test('the same seed gives the same image; another seed another', async () => {
  const small = await readImage(photo('cat_dog.jpg'), { resize: { width: 96 } });
  const o = { ...opts, layers: ['block3_conv2'], octaves: 1, steps: 3 };
  const a = await dream(small, { ...o, seed: 7 });
  const b = await dream(small, { ...o, seed: 7 });
  const c = await dream(small, { ...o, seed: 8 });
  expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
  expect(Buffer.from(a.image.data).equals(Buffer.from(c.image.data))).toBe(false);
});

describe('tiling', () => {
  test('cores partition the axis on the stride grid, no tile longer than the tile size', () => {
    for (const [length, tile, margin, align] of [[2000, 512, 96, 16], [1500, 512, 96, 16], [333, 96, 24, 8], [97, 96, 8, 4]]) {
      const spans = planAxis(length, tile, margin, align);
      expect(spans[0].coreStart).toBe(0);
      expect(spans[spans.length - 1].coreEnd).toBe(length);
      spans.forEach((s, i) => {
        if (i) expect(s.coreStart).toBe(spans[i - 1].coreEnd);
        expect(s.coreStart % align).toBe(0);
        expect(s.end - s.start).toBeLessThanOrEqual(tile);
        expect(s.start).toBe(Math.max(0, s.coreStart - margin));
      });
    }
  });

  test('the tiled gradient equals the whole-image gradient', async () => {
    const img = await readImage(photo('cat_dog.jpg'), { resize: { width: 192 } }); // 192x144
    for (const [layers, tileSize] of [[['block4_conv1'], 96], [['block3_conv2', 'block4_conv1'], 112]] as const) {
      const whole = await context(img, { layers: [...layers] });
      const tiled = await context(img, { layers: [...layers], tileSize });
      try {
        await tidy(async () => {
          const x = imageToInput(img, whole.preprocess);
          const a = await evaluate(whole.ctx, x, true);
          const b = await evaluate(tiled.ctx, x, true);
          expect(a.tiles).toBe(1);
          expect(b.tiles).toBeGreaterThanOrEqual(6);
          expect(b.sumSquares / a.sumSquares).toBeCloseTo(1, 5);
          expect(dot(a.grad!, b.grad!) / (norm2(a.grad!) * norm2(b.grad!))).toBeGreaterThan(0.99999);
          const ga = a.grad!.data();
          const gb = b.grad!.data();
          let worst = 0;
          let largest = 0;
          for (let i = 0; i < ga.length; ++i) {
            worst = Math.max(worst, Math.abs(ga[i] - gb[i]));
            largest = Math.max(largest, Math.abs(ga[i]));
          }
          // Tiles and the whole image differ in shape, so each conv may take Winograd for one and
          // im2col for the other (measured per shape): 1.2e-3 apart at worst, not a tiling error.
          expect(worst / largest).toBeLessThan(5e-3);
        });
      } finally {
        whole.dispose();
        tiled.dispose();
      }
    }
  });

  test('a 2000x1500 image completes tile by tile in bounded memory', async () => {
    const big = await readImage(path.join(shared, 'images/content/golden_gate.jpg'), { resize: { width: 2000, height: 1500, mode: 'squash' } });
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const r = await dream(big, { ...opts, layers: ['block1_conv1'], octaves: 1, steps: 1, tileSize: 512 });
      expect([r.image.width, r.image.height]).toEqual([2000, 1500]);
      // 4 x 3 tiles, for the initial value, the one step and the final value.
      expect(r.tiles).toBe(36);
      expect(r.objective.final).toBeGreaterThan(r.objective.initial);
    } finally {
      clearInterval(timer);
    }
    // Whole, one block1 activation alone would be 2000*1500*64*4 B = 768 MB (and backward keeps several).
    expect(peak - rss0).toBeLessThan(1.2e9);
  });
});

test('a class objective raises the class logit', async () => {
  const img = await readImage(photo('cat_dog_224.png'));
  const r = await dream(img, { ...opts, classIndex: 1, octaves: 3, steps: 3, jitter: 8 });
  expect(r.layers).toEqual([]);
  expect(r.octaveSizes).toEqual([[224, 224]]); // smaller octaves cannot fill a 224x224 window
  expect(r.objective.final).toBeGreaterThan(r.objective.initial + 5);
});

test('bad options are refused before any work', async () => {
  const onProgress = jest.fn();
  const o = { ...opts, onProgress };
  // Plain options first: even a missing image is not looked at.
  await expect(dream('/nonexistent.png', { ...o, octaves: 0 })).rejects.toThrow(
    'dream: Expected integer between 1 and 12 for octaves but received 0 of type number',
  );
  await expect(dream(catDog, { ...o, octaveScale: 3 })).rejects.toThrow(
    'dream: Expected number between 1.1 and 2 for octaveScale but received 3 of type number',
  );
  await expect(dream(catDog, { ...o, stepSize: -1 })).rejects.toThrow(
    'dream: Expected number between 0.01 and 100 for stepSize but received -1 of type number',
  );
  await expect(dream(catDog, { ...o, tileSize: 32 })).rejects.toThrow(
    'dream: Expected integer between 64 and 8192 for tileSize but received 32 of type number',
  );
  await expect(dream(catDog, { ...o, layers: ['nope'] })).rejects.toThrow(
    "dream: Expected one of the model's layers for layers[0] but received 'nope' of type string",
  );
  await expect(dream(catDog, { ...o, layers: ['block4_conv1', 'fc1'] })).rejects.toThrow(
    "dream: Expected a layer with a spatial [1,H,W,C] output for layers[1] but received 'fc1' of type string",
  );
  await expect(dream(catDog, { ...o, channels: { block4_conv1: [3, 512] } })).rejects.toThrow(
    'dream: Expected integer between 0 and 511 for channels.block4_conv1[1] but received 512 of type number',
  );
  await expect(dream(catDog, { ...o, classIndex: 1000 })).rejects.toThrow(
    'dream: Expected integer between 0 and 999 for classIndex but received 1000 of type number',
  );
  await expect(dream(catDog, { ...o, classIndex: 5 })).rejects.toThrow(
    'dream: the image is 160x120 but classIndex (windows of 224x224) needs at least 224 pixels on each side',
  );
  await expect(dream(path.join(shared, 'DATA.md'), o)).rejects.toThrow(/^image: '.*DATA\.md' is not a readable image/);
  expect(onProgress).not.toHaveBeenCalled();
});

test('channels: only the chosen channels count', async () => {
  const small = await readImage(photo('cat_dog.jpg'), { resize: { width: 96 } });
  const r = await dream(small, { ...opts, channels: { block4_conv1: [3, 7] }, octaves: 1, steps: 2 });
  expect(r.layers).toEqual(['block4_conv1']);
  expect(r.objective.initial).toBeLessThan(await layerNorm(small, 'block4_conv1'));
  expect(r.objective.final).toBeGreaterThan(r.objective.initial);
});

test('MobileNet dreams on an image smaller than its 224-px classifier head needs', async () => {
  // At 160x120 the last feature map is 5x4: the head's 7x7 average pool cannot take it, so the
  // shapes of a tile must come from the network cut at the dream layer.
  const r = await dream(catDog, { ...opts, model: 'mobilenet-v1-0.25', octaves: 1, steps: 3, stepSize: 2 });
  expect([r.image.width, r.image.height]).toEqual([160, 120]);
  expect(r.layers).toHaveLength(1);
  expect(r.objective.final).toBeGreaterThan(r.objective.initial);
});

test('abort stops the work and rejects with the signal reason', async () => {
  const ac = new AbortController();
  const seen: number[] = [];
  const p = dream(catDog, { ...opts, layers: ['block3_conv1'], octaves: 2, steps: 5, signal: ac.signal, onProgress: (s) => (seen.push(s.step), ac.abort()) });
  await expect(p).rejects.toHaveProperty('name', 'AbortError');
  expect(seen).toEqual([1]);
  const already = new AbortController();
  already.abort(new Error('stop'));
  await expect(dream(catDog, { ...opts, signal: already.signal })).rejects.toThrow('stop');
  // The network is still usable afterwards.
  const r = await dream(catDog, { ...opts, layers: ['block3_conv1'], octaves: 1, steps: 1 });
  expect(r.image.width).toBe(160);
});

describe('CLI', () => {
  const env = { ...process.env, EYECANDY_MIRROR: shared, EYECANDY_CACHE: cache };

  test('eyecandy dream writes the image and reports as JSON', async () => {
    const out = path.join(cache, 'dream.png');
    const args = [cli, 'dream', photo('cat_dog.jpg'), '-o', out, '--size', '96', '--layer', 'block3_conv1', '--octaves', '1', '--steps', '2', '--model', 'vgg19-uint8', '--json'];
    const { stdout } = await run(process.execPath, args, { env });
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ output: out, width: 96, height: 72, layers: ['block3_conv1'], octaveSizes: [[72, 96]] });
    expect(r.ratio).toBeGreaterThan(1);
    const img = await readImage(out);
    expect([img.width, img.height]).toEqual([96, 72]);
  });

  test('bad options: exit 1 with the library text; usage errors exit 2', async () => {
    const bad = await run(process.execPath, [cli, 'dream', photo('cat_dog.jpg'), '-o', '/tmp/x.png', '--octaves', '0'], { env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('eyecandy dream: dream: Expected integer between 1 and 12 for octaves but received 0 of type number');
    const usage = await run(process.execPath, [cli, 'dream', photo('cat_dog.jpg')], { env }).catch((e) => e);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('eyecandy dream: name the output image with -o FILE');
    const channels = await run(process.execPath, [cli, 'dream', photo('cat_dog.jpg'), '-o', '/tmp/x.png', '--channels', 'block4_conv1:a'], { env }).catch((e) => e);
    expect(channels.code).toBe(2);
  });

  test('-o is checked before the run: a missing folder, a folder, an unknown extension', async () => {
    // The model cannot load, so an error about -o shows the check came first.
    const noModel = ['--model', path.join(cache, 'no-such-model.onnx')];
    const folder = path.join(cache, 'folder.png');
    fs.mkdirSync(folder, { recursive: true });
    for (const [out, msg] of [
      [path.join(cache, 'no-such-dir', 'x.png'), `its folder '${path.join(cache, 'no-such-dir')}' does not exist`],
      [folder, 'is a folder; name an image file'],
      [path.join(cache, 'x.gif'), 'must end in .png, .jpg, .jpeg, .webp'],
    ]) {
      const r = await run(process.execPath, [cli, 'dream', photo('cat_dog.jpg'), '-o', out, ...noModel], { env }).catch((e) => e);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`eyecandy dream: `);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).not.toContain('no-such-model');
    }
  });
});
