// The web page at / in Debian's chromium (playwright-core, no browser download): upload
// cat_dog.jpg, see the classify result; run a small style job, see its progress and final image.
import * as fs from 'fs';
import * as path from 'path';

import { RunningServer, startServer } from '../../src/ts/server/app';
import { modelOptions, photo, shared, waitFor, removeTmp } from './helpers';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const maybe = fs.existsSync(executablePath) ? test : test.skip;
let server: RunningServer;
// Required without its types: they need the DOM library the tests' tsconfig leaves out.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require('playwright-core');
let browser: any; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  server = await startServer({ ...modelOptions, port: 0, logger: false });
  // Loading the model keeps the process busy for a while; the page is driven once it is ready.
  await waitFor(async () => ((await fetch(`${server.url}/readyz`)).status === 200 ? true : undefined), 90_000);
  if (fs.existsSync(executablePath)) browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  removeTmp();
});

maybe('upload, classify, then a small style job with live progress and the final image', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (e: Error) => errors.push(e.message));
  await page.goto(server.url);
  await page.waitForSelector('#image', { state: 'attached', timeout: 60_000 });
  await page.setInputFiles('#image', photo);
  await page.selectOption('#task', 'classify');
  await page.click('#run');
  await page.waitForSelector('#classes li', { timeout: 60_000 });
  const first = await page.textContent('#classes li');
  expect(first).toMatch(/mastiff|boxer|dog/i);
  expect(await page.textContent('#status')).toMatch(/^classify: /);

  await page.selectOption('#task', 'style');
  await page.setInputFiles('#style', path.join(shared, 'images/style/starry_night.jpg'));
  await page.fill('#size', '96');
  await page.fill('#iterations', '12');
  await page.click('#run');
  // The page runs in the browser, so its checks are given as expressions.
  await page.waitForFunction(`/running \\(scale/.test(document.getElementById('status').textContent)`, undefined, { timeout: 60_000 });
  // An intermediate image arrives as a data URL before the result.
  await page.waitForFunction(`document.getElementById('preview').src.startsWith('data:image/png')`, undefined, { timeout: 60_000 });
  await page.waitForFunction(`document.getElementById('status').textContent === 'style: succeeded'`, undefined, { timeout: 90_000 });
  expect(await page.getAttribute('#preview', 'src')).toMatch(/\/v1\/jobs\/[0-9a-f-]+\/result\/style\.png$/);
  expect(await page.evaluate(`document.getElementById('bar').value`)).toBe(1);
  expect(await page.textContent('#downloads')).toContain('style.png');
  await page.waitForFunction(`document.getElementById('preview').naturalWidth === 96`);
  fs.mkdirSync(path.resolve(__dirname, '../../docs'), { recursive: true });
  await page.screenshot({ path: path.resolve(__dirname, '../../docs/server-page.png') });
  expect(errors).toEqual([]);
});
