// Every script in examples/ runs at its small (CI) size against ../shared's data and says what
// it should: the models come from ../shared as a mirror into one temporary cache (copied once),
// never from the network. The scripts load eyecandy by its package name (dist/, the exports map).
// MobileNet v1 0.25 (1.9 MB) serves the batch and HTTP examples, so only the TF.js comparison
// pays for loading VGG19.
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

import { readImage } from '../src/ts/image/io';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const shared = process.env.EYECANDY_SHARED ?? path.resolve(root, '../shared');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-examples-'));
const env = {
  ...process.env,
  EYECANDY_SHARED: shared,
  EYECANDY_MIRROR: shared,
  EYECANDY_CACHE: path.join(tmp, 'cache'),
  EYECANDY_OFFLINE: '1',
  MODEL: 'mobilenet-v1-0.25',
};
const tabby = path.join(shared, 'images/photos/tabby_cat_224.bmp');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function example(name: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [path.join(root, 'examples', name), ...args], { env, cwd: root, maxBuffer: 1 << 24 });
}

test('train-small: the loss falls by more than 5x and the XOR quadrants are learned', async () => {
  const { stdout } = await example('train-small.js', ['--small']);
  const fell = /loss ([\d.]+) -> ([\d.]+)/.exec(stdout);
  expect(fell).not.toBeNull();
  expect(Number(fell![1]) / Number(fell![2])).toBeGreaterThan(5);
  const initial = Number(/initial accuracy ([\d.]+)%/.exec(stdout)![1]);
  const final = Number(/final accuracy ([\d.]+)%/.exec(stdout)![1]);
  expect(initial).toBeLessThan(75);
  expect(final).toBeGreaterThanOrEqual(90);
  // The printed losses go down from the first report to the last.
  const losses = [...stdout.matchAll(/iteration +\d+ +loss ([\d.]+)/g)].map((m) => Number(m[1]));
  expect(losses.length).toBeGreaterThan(5);
  expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 5);
});

test('batch-folder: classifies every photo of the folder with a progress bar', async () => {
  const { stdout, stderr } = await example('batch-folder.js', [path.join(shared, 'images/photos')]);
  const lines = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]));
  expect(Object.keys(lines).sort()).toEqual(fs.readdirSync(path.join(shared, 'images/photos')).sort());
  expect(lines['tabby_cat_224.bmp']).toMatch(/^(tabby|tiger cat|Egyptian cat) /);
  expect(lines['burger.jpg']).toMatch(/^cheeseburger /);
  const count = Object.keys(lines).length;
  expect(stderr).toContain(`[${'#'.repeat(24)}] ${count}/${count}`);
});

test('batch-folder --dream --small: writes a dreamed image per photo, at the small size', async () => {
  const folder = path.join(tmp, 'one');
  fs.mkdirSync(folder);
  fs.copyFileSync(tabby, path.join(folder, 'tabby.bmp'));
  const out = path.join(tmp, 'dreams');
  // MobileNet's head needs 224 px (its 7x7 average pool); VGG19 dreams at --small's 96 px.
  const { stdout } = await example('batch-folder.js', [folder, '--dream', '--small', '--size', '224', '--out', out]);
  expect(stdout).toMatch(/^tabby\.bmp\t.*tabby-dream\.png\t224x224\tobjective x([\d.]+)\n$/);
  expect(Number(/objective x([\d.]+)/.exec(stdout)![1])).toBeGreaterThan(1);
  const img = await readImage(path.join(out, 'tabby-dream.png'));
  expect([img.width, img.height]).toEqual([224, 224]);
  const original = await readImage(tabby);
  expect(Buffer.compare(Buffer.from(img.data), Buffer.from(original.data))).not.toBe(0);
});

test('compare-tfjs --small: eyecandy and TF.js agree on VGG19 block2_pool to 1e-5 relative', async () => {
  const { stdout } = await example('compare-tfjs.js', ['--small', tabby]);
  const m = /block2_pool: 32768 values, max \|Δ\| (\S+) of max \|value\| (\S+) \(relative (\S+)\)/.exec(stdout);
  expect(m).not.toBeNull();
  expect(Number(m![2])).toBeGreaterThan(100); // the features are not all zero
  expect(Number(m![3])).toBeLessThan(1e-5);
  expect(stdout).toMatch(/time: eyecandy \d+ ms, tfjs \d+ ms/);
});

function request(port: number, method: string, p: string, body?: Buffer): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('http-app: POST an image to /classify gives its classes; a bad one a 400, and the server stays up', async () => {
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [path.join(root, 'examples/http-app.js')], { env: { ...env, PORT: '0' }, cwd: root });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child!.on('exit', (code) => reject(new Error(`http-app exited with ${code}: ${stderr}`)));
    });
    const ok = await request(port, 'POST', '/classify?top=3', fs.readFileSync(tabby));
    expect(ok.status).toBe(200);
    expect(ok.json.classes).toHaveLength(3);
    expect(ok.json.classes[0].label).toMatch(/^(tabby|tiger cat|Egyptian cat)/);
    const bad = await request(port, 'POST', '/classify', Buffer.from('not an image'));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/\S/);
    const health = await request(port, 'GET', '/health');
    expect(health).toEqual({ status: 200, json: { ok: true, model: 'mobilenet-v1-0.25' } });
  } finally {
    child?.kill();
  }
});
