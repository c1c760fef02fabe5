// Tasks started together on one loaded model share its compiled networks (see
// tasks/runtime.ts) and give exactly what they give one after another: a
// Network runs its calls in order and keeps each forward with its backward
// passes (Network.gradient), so no task needs a lock. Real VGG19 from
// ../shared (as a mirror, no network), at small sizes to stay fast.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Image, readImage } from '../../src/ts/image/io';
import { loadModel, Model } from '../../src/ts/models/load';
import { classify, ClassifyResult } from '../../src/ts/tasks/classify';
import { dream, DreamResult } from '../../src/ts/tasks/dream';
import { locate, LocateResult } from '../../src/ts/tasks/locate';

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-cache-'));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

let model: Model;
let photo: Image;
let small: Image;
let other: Image;
beforeAll(async () => {
  other = await readImage(path.join(shared, 'images/photos', 'cats_and_dogs.jpg'), { resize: { width: 260 } });
  model = await loadModel('vgg19-uint8', { mirror: shared, cacheDir: cache });
  photo = await readImage(path.join(shared, 'images/photos', 'cat_dog.jpg'), { resize: { width: 300 } });
  small = await readImage(path.join(shared, 'images/photos', 'cat_dog.jpg'), { resize: { width: 64 } });
});

type Results = [ClassifyResult, LocateResult, DreamResult, ClassifyResult, LocateResult, ClassifyResult];

function calls(): (() => Promise<unknown>)[] {
  return [
    // classify any-size and locate share the fully convolutional network; the fixed-size classify has its own.
    () => classify(photo, { model, anySize: true, topK: 5 }),
    () => locate(photo, { model, topK: 3, components: 1, topN: 3 }),
    () => dream(small, { model, layers: ['block3_conv1'], octaves: 1, steps: 2, jitter: 4 }),
    () => classify(photo, { model, topK: 5 }),
    // A second locate and classify on the shared network: between one locate's forward and its
    // backward passes, the other's forward would replace the activations they read.
    () => locate(other, { model, topK: 3, components: 1, topN: 3 }),
    () => classify(other, { model, anySize: true, topK: 5 }),
  ];
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; ++i) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

test('classify, locate and dream started together on one model give what they give in sequence', async () => {
  const sequence: unknown[] = [];
  for (const call of calls()) sequence.push(await call());
  const together = await Promise.all(calls().map((c) => c()));
  const [c1, l1, d1, f1, m1, o1] = sequence as Results;
  const [c2, l2, d2, f2, m2, o2] = together as Results;
  for (const [a, b] of [[c1, c2], [f1, f2], [o1, o2]]) {
    expect(b.classes.map((c) => c.index)).toEqual(a.classes.map((c) => c.index));
    expectClose(b.classes.map((c) => c.probability), a.classes.map((c) => c.probability), 1e-6);
  }
  expect(c1.mapSize).toEqual([1, 3]);
  for (const [a, b] of [[l1, l2], [m1, m2]]) {
    expect(b.classes.map((c) => c.index)).toEqual(a.classes.map((c) => c.index));
    expect(b.classMasks).toHaveLength(3);
    a.classMasks.forEach((m, i) => expectClose(b.classMasks[i], m, 1e-4));
    expect(b.components.length).toBe(a.components.length);
    a.components.forEach((c, i) => {
      expect(b.components[i].eigenvalue).toBeCloseTo(c.eigenvalue, 4);
      expect(b.components[i].sides.map((s) => s.classes.map((k) => k.index))).toEqual(c.sides.map((s) => s.classes.map((k) => k.index)));
    });
  }
  expect([d2.image.width, d2.image.height]).toEqual([d1.image.width, d1.image.height]);
  expectClose(d2.image.data, d1.image.data, 1);
  expect(d2.objective.final).toBeCloseTo(d1.objective.final, 2);
  expect(d1.objective.final).toBeGreaterThan(d1.objective.initial);
});
