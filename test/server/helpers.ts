// Helpers for the server tests: multipart uploads, SSE reading, and the test model served from ../shared.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
export const photo = path.join(shared, 'images/photos/cat_dog.jpg');
export const photoBytes = fs.readFileSync(photo);
export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-server-'));
/** Removes `tmp`: the last step of each server test file's afterAll, once its servers and workers are down. */
export const removeTmp = (): void => fs.rmSync(tmp, { recursive: true, force: true });
/** vgg19-uint8 from ../shared as a mirror, as the task tests load it. */
export const modelOptions = { model: 'vgg19-uint8', mirror: shared, cacheDir: path.join(tmp, 'cache') };

export function form(fields: { image?: Buffer; style?: Buffer[]; task?: string; options?: object | string }): FormData {
  const f = new FormData();
  if (fields.task !== undefined) f.append('task', fields.task);
  if (fields.options !== undefined) f.append('options', typeof fields.options === 'string' ? fields.options : JSON.stringify(fields.options));
  if (fields.image) f.append('image', new Blob([fields.image]), 'image.jpg');
  for (const s of fields.style ?? []) f.append('style', new Blob([s]), 'style.jpg');
  return f;
}

export interface Sse {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Reads a job's event stream to its end (the server closes it after `done`). */
export async function readEvents(url: string, onEvent?: (e: Sse) => void, headers: Record<string, string> = {}): Promise<Sse[]> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`events: ${res.status} ${await res.text()}`);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const out: Sse[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const e: Partial<Sse> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) e.id = Number(line.slice(4));
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
      }
      if (e.event) {
        out.push(e as Sse);
        onEvent?.(e as Sse);
      }
    }
  }
  return out;
}

/** A response's JSON body, with the one error shape checked whenever the status is an error. */
export async function json(res: Response): Promise<any> {
  const body = await res.json();
  if (res.status >= 400) {
    expect(body).toEqual({ error: { status: res.status, code: expect.any(String), message: expect.any(String) } });
  }
  return body;
}

export async function waitFor<T>(f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const isDog = (i: number) => i >= 151 && i <= 268;

/** A redis-server on a free loopback port, persistence off; `stop` kills it. */
export async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const { execFileSync, spawn } = await import('child_process');
  const net = await import('net');
  execFileSync('redis-server', ['--version']);
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as import('net').AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(async () => new Promise<true | undefined>((r) => net.connect(port, '127.0.0.1').on('connect', function (this: import('net').Socket) { this.destroy(); r(true); }).on('error', () => r(undefined))), 10_000);
  return { url: `redis://127.0.0.1:${port}`, stop: () => void proc.kill('SIGKILL') };
}
