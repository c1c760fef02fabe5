// locate on the Grad-CAM cat_dog photo with the real VGG19 (served from ../shared as a mirror):
// the principal masks must find an "eigen-dog" on the dog and an "eigen-cat" on the cat.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { Image, readImage } from '../../src/ts/image/io';
import { locate, LocateResult, LocateStep, MaskSide } from '../../src/ts/tasks/locate';
import { locateToJson, writeLocateReport } from '../../src/ts/tasks/report';

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const photo = path.join(shared, 'images/photos/cat_dog.jpg');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-locate-'));
const opts = { model: 'vgg19-uint8', mirror: shared, cacheDir: path.join(tmp, 'cache') };
const cli = path.resolve(__dirname, '../../dist/cli/main.js');
const run = promisify(execFile);

// Measured by eye on the 640×480 photo: the bull mastiff sits upper centre (head at about
// x 225..395, y 30..170), the tabby lies across the lower part (head at about x 405..500, y 255..350).
const DOG = { x0: 220, y0: 30, x1: 470, y1: 310 };
const CAT = { x0: 130, y0: 255, x1: 570, y1: 480 };
const isDog = (i: number) => i >= 151 && i <= 268;
const isCat = (i: number) => i >= 281 && i <= 285;

type Rect = typeof DOG;
const inside = ([x, y]: [number, number], r: Rect) => x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
/** Share of the box's area that lies inside the rectangle. */
function coveredBy(b: { x: number; y: number; width: number; height: number }, r: Rect): number {
  const w = Math.max(0, Math.min(b.x + b.width, r.x1) - Math.max(b.x, r.x0));
  const h = Math.max(0, Math.min(b.y + b.height, r.y1) - Math.max(b.y, r.y0));
  return (w * h) / (b.width * b.height);
}
/** Whether a side's top-3 labels are mostly of the kind. */
const isKind = (s: MaskSide, kind: (i: number) => boolean) => s.classes.slice(0, 3).filter((c) => kind(c.index)).length >= 2;
/** The leading component's side of the kind (the eigen-dog, the eigen-cat). */
const leadSide = (r: LocateResult, kind: (i: number) => boolean) => r.components[0].sides.find((s) => isKind(s, kind));
/** The peak of a side's mask, [x, y] in image pixels. */
function peak(r: LocateResult, s: MaskSide): [number, number] {
  const [H, W] = r.maskSize;
  let best = 0;
  s.mask.forEach((v, i) => v > s.mask[best] && (best = i));
  return [((best % W) + 0.5) * (r.imageSize[1] / W), (Math.floor(best / W) + 0.5) * (r.imageSize[0] / H)];
}
/** Every side whose top class is a dog peaks on the dog, every one whose top class is a cat on the cat (at least one of each). */
function expectPointing(r: LocateResult) {
  const sides = r.components.flatMap((c) => c.sides);
  for (const [kind, rect, name] of [[isDog, DOG, 'dog'], [isCat, CAT, 'cat']] as const) {
    const named = sides.filter((s) => kind(s.classes[0].index));
    expect(named.length).toBeGreaterThan(0);
    for (const s of named) expect({ name, label: s.classes[0].label, peak: peak(r, s), inside: inside(peak(r, s), rect) }).toMatchObject({ inside: true });
  }
}

let src: Image;
let result: LocateResult;
const steps: LocateStep[] = [];

beforeAll(async () => {
  src = await readImage(photo);
  result = await locate(src, { ...opts, onStep: (s) => steps.push(s) });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the whole image: the top-20 classes, the masks at the network scale', () => {
  expect(result.classes).toHaveLength(20);
  expect(result.classes[0]).toMatchObject({ index: 243, label: 'bull mastiff' });
  expect(result.classes.some((c) => isCat(c.index))).toBe(true);
  expect(result.imageSize).toEqual([480, 640]);
  expect(result.maskSize).toEqual([224, 299]);
  expect(result.mapSize).toEqual([1, 3]);
  expect(result.classMasks).toHaveLength(20);
  expect(new Set(steps)).toEqual(new Set(['classify', 'gradients', 'pca', 'masks']));
});

test('an eigen-dog lies on the dog and an eigen-cat on the cat', () => {
  const dog = leadSide(result, isDog);
  const cat = leadSide(result, isCat);
  expect(dog).toBeDefined();
  expect(cat).toBeDefined();
  expect(dog).not.toBe(cat);
  expect(inside(dog!.centroid, DOG)).toBe(true);
  expect(inside(cat!.centroid, CAT)).toBe(true);
  expect(cat!.centroid[1]).toBeGreaterThan(dog!.centroid[1] + 100); // the cat lies in front, below the dog
  expect(coveredBy(dog!.boxes[0], DOG)).toBeGreaterThan(0.8);
  expect(coveredBy(cat!.boxes[0], CAT)).toBeGreaterThan(0.8);
  // They are the two sides of the leading component: dog classes against the rest.
  expect(result.components[0].sides).toHaveLength(2);
  // And every side named after either animal points at it.
  expectPointing(result);
});

test("saliency 'pixels' (each class back to the image through the whole network) finds the same two animals", async () => {
  const r = await locate(src, { ...opts, saliency: 'pixels' });
  expect(r.classes.map((c) => c.index)).toEqual(result.classes.map((c) => c.index));
  const dog = leadSide(r, isDog);
  const cat = leadSide(r, isCat);
  expect(dog).toBeDefined();
  expect(cat).toBeDefined();
  expect(inside(dog!.centroid, DOG)).toBe(true);
  expect(inside(cat!.centroid, CAT)).toBe(true);
  expect(cat!.centroid[1]).toBeGreaterThan(dog!.centroid[1] + 100);
  expectPointing(r);
  // Pixel masks differ from the feature masks: finer detail, so not the same values.
  let diff = 0;
  r.classMasks[0].forEach((v, i) => (diff += Math.abs(v - result.classMasks[0][i])));
  expect(diff / r.classMasks[0].length).toBeGreaterThan(0.05);
});

test('components: variances descend and sum to at most 1, unit loadings, masks in 0..1', () => {
  const vars = result.components.map((c) => c.explainedVariance);
  expect(vars).toHaveLength(4);
  vars.forEach((v, i) => {
    expect(v).toBeGreaterThan(0);
    if (i) expect(v).toBeLessThanOrEqual(vars[i - 1]);
  });
  expect(vars.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
  for (const c of result.components) {
    expect(c.loadings).toHaveLength(20);
    expect(c.loadings.reduce((s, l) => s + l.loading ** 2, 0)).toBeCloseTo(1, 6);
    expect(c.sides.length).toBeGreaterThan(0);
    for (const s of c.sides) {
      expect(s.mask).toHaveLength(224 * 299);
      expect(Math.max(...s.mask)).toBeCloseTo(1, 6);
      expect(Math.min(...s.mask)).toBeGreaterThanOrEqual(0);
      expect(s.classes).toHaveLength(5);
      expect(s.mass).toBeGreaterThan(0);
      expect(s.mass).toBeLessThanOrEqual(1);
    }
  }
});

test('the report: JSON, mask PNGs at the image size, overlay, self-contained HTML', async () => {
  const out = path.join(tmp, 'out');
  const html = path.join(tmp, 'report.html');
  const files = await writeLocateReport(src, result, { outDir: out, html, title: 'cat_dog.jpg' });
  const sides = result.components.flatMap((c) => c.sides).length;
  expect(files).toHaveLength(2 + 2 * sides + 1);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'locate.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(locateToJson(result))));
  for (const name of ['overlay.png', 'pc1-positive.png', 'pc1-negative-seen.png']) {
    const img = await readImage(path.join(out, name));
    expect([img.width, img.height]).toEqual([640, 480]);
  }
  const text = fs.readFileSync(html, 'utf8');
  expect(text.match(/<image href="data:image\/png;base64,/g)).toHaveLength(2 + 2 * sides);
  expect(text).not.toMatch(/(src|href)="(?!data:)/);
  expect(text).toContain('Principal mask 1');
  expect(text).toContain('eigen-tiger cat');
});

test('bad options are refused before any work', async () => {
  const missing = path.join(tmp, 'no-such.jpg'); // the image is read after the checks
  const cases: [object, string][] = [
    [{ components: 0 }, 'locate: Expected integer between 1 and 10 for components but received 0 of type number'],
    [{ topK: 101 }, 'locate: Expected integer between 1 and 100 for topK but received 101 of type number'],
    [{ topN: 2.5 }, 'locate: Expected integer between 1 and 100 for topN but received 2.5 of type number'],
    [{ maskThreshold: 2 }, 'locate: Expected number between 0 and 1 for maskThreshold but received 2 of type number'],
    [{ blurSigma: -1 }, 'locate: Expected number between 0 and 64 for blurSigma but received -1 of type number'],
    [{ seed: 'max' }, "locate: Expected one of 'windows', 'softmax', 'uniform' for seed but received 'max' of type string"],
    [{ saliency: 'edges' }, "locate: Expected one of 'features', 'pixels' for saliency but received 'edges' of type string"],
    [{ objective: 'prob' }, "locate: Expected one of 'logSoftmax', 'logit' for objective but received 'prob' of type string"],
    [{ backend: 'tpu' }, "locate: Expected one of 'cpu', 'cuda', 'auto' for backend but received 'tpu' of type string"],
  ];
  for (const [bad, message] of cases) await expect(locate(missing, { ...opts, ...bad })).rejects.toThrow(message);
  await expect(locate(missing, opts)).rejects.toThrow(/^image: cannot read '.*no-such\.jpg': no such file$/);
  const aborted = new AbortController();
  aborted.abort(new Error('stop'));
  await expect(locate(src, { ...opts, signal: aborted.signal })).rejects.toThrow('stop');
  await expect(writeLocateReport({ width: 10, height: 10, data: new Uint8Array(300) }, result, {})).rejects.toThrow(
    'report: the image is 10x10 but the result is for 640x480',
  );
});

test('two locates at once on the shared network give what one at a time gives', async () => {
  const small = { ...opts, topK: 3, components: 1 };
  const [a, b] = await Promise.all([locate(src, small), locate(src, small)]);
  const c = await locate(src, small);
  const centroids = (r: LocateResult) => r.components.flatMap((k) => k.sides.map((s) => s.centroid));
  expect(centroids(a)).toEqual(centroids(c));
  expect(centroids(b)).toEqual(centroids(c));
});

describe('CLI', () => {
  const env = { ...process.env, EYECANDY_MIRROR: shared, EYECANDY_CACHE: opts.cacheDir };

  test('eyecandy locate prints the eigen-masks and writes the report', async () => {
    const out = path.join(tmp, 'cli');
    const { stdout } = await run(
      process.execPath,
      [cli, 'locate', photo, '--model', 'vgg19-uint8', '--top-k', '10', '--components', '2', '--top', '3', '--out', out, '--report', path.join(out, 'r.html')],
      { env },
    );
    expect(stdout).toMatch(/^.*cat_dog\.jpg +\(vgg19-uint8, seen at 299x224, class map 1x3, [\d.]+ s\)\n {2}classes: bull mastiff \d+\.\d%/);
    expect(stdout).toMatch(/\n {2}PC1 +\d+\.\d% of the variance/);
    expect(stdout).toMatch(/\n {4}[+-] eigen-\S.*centroid \(\d+, \d+\), box \d+,\d+,\d+,\d+, mass \d+\.\d%\n/);
    expect(fs.existsSync(path.join(out, 'locate.json'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'r.html'))).toBe(true);
  });

  test('a bad option exits 1 with the check\'s text; a usage error exits 2', async () => {
    const bad = await run(process.execPath, [cli, 'locate', photo, '--components', '0'], { env }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('eyecandy locate: locate: Expected integer between 1 and 10 for components but received 0 of type number');
    const usage = await run(process.execPath, [cli, 'locate'], { env }).catch((e) => e);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('eyecandy locate: name one image');
  });
});
