// The download layer against a local HTTP server on 127.0.0.1 (no internet):
// cache hits, resume, checksum errors, fallbacks, mirrors, abort.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheDir, DownloadError, fetchFile, progressBar, RemoteFile, verifyFile } from '../../src/ts/models/zoo/download';
import { rng } from '../helpers';

// A full disk: while mockDiskLeft is a number, each write stream the download opens takes that
// many more bytes and then fails with ENOSPC, as a real full file system does.
let mockDiskLeft: number | undefined;
jest.mock('node:fs', () => {
  const real = jest.requireActual('node:fs');
  const { Writable } = jest.requireActual('node:stream');
  return {
    ...real,
    createWriteStream(file: string, options: object) {
      if (mockDiskLeft === undefined) return real.createWriteStream(file, options);
      const out = real.createWriteStream(file, options);
      return new Writable({
        write(chunk: Buffer, _enc: string, done: (e?: Error | null) => void) {
          const room = Math.min(chunk.length, mockDiskLeft!);
          mockDiskLeft! -= room;
          out.write(chunk.subarray(0, room), (e?: Error | null) => {
            if (e || room === chunk.length) return done(e);
            done(Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' }));
          });
        },
        final(done: (e?: Error | null) => void) {
          out.end(done);
        },
        destroy(err: Error | null, done: (e?: Error | null) => void) {
          out.destroy();
          out.once('close', () => done(err));
        },
      });
    },
  };
});

// Every server here is on 127.0.0.1: these tests may use URLs (see test/setup.ts).
delete process.env.EYECANDY_OFFLINE;

const NAME = 'vgg19/model.json';
const data = Buffer.from(Array.from({ length: 300_000 }, rng(7)).map((v) => Math.floor(v * 256)));
const sha = createHash('sha256').update(data).digest('hex');
const half = data.length / 2;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;
interface Served {
  url: string;
  requests: { path: string; range?: string }[];
}
const servers: http.Server[] = [];
const savedMirror = process.env.EYECANDY_MIRROR;

beforeEach(() => delete process.env.EYECANDY_MIRROR);
afterEach(async () => {
  if (savedMirror === undefined) delete process.env.EYECANDY_MIRROR;
  else process.env.EYECANDY_MIRROR = savedMirror;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<Served> {
  const requests: Served['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', range: req.headers.range });
    handler(req, res, requests.length);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** Serves `data`, honouring `Range: bytes=N-` unless told to ignore it. */
function sendFile(req: http.IncomingMessage, res: http.ServerResponse, ignoreRange = false): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && !ignoreRange) {
    const start = Number(m[1]);
    res.writeHead(206, {
      'content-length': data.length - start,
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
    });
    res.end(data.subarray(start));
  } else {
    res.writeHead(200, { 'content-length': data.length });
    res.end(data);
  }
}

/** Headers for the whole file, then only the first half. */
function sendHalf(res: http.ServerResponse, then: 'cut' | 'stall'): void {
  res.writeHead(200, { 'content-length': data.length });
  res.write(data.subarray(0, half), () => then === 'cut' && res.destroy());
}

// Every folder a test makes is removed after the file's tests, so a run leaves nothing in the temp dir.
const made: string[] = [];
const tmp = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-dl-'));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const remote = (urls: string[], extra: Partial<RemoteFile> = {}): RemoteFile => ({ name: NAME, urls, digest: sha, size: data.length, ...extra });
const files = (dir: string): string[] =>
  (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile());

test('first download writes the file and reports monotonic progress ending at the total; a second call hits the cache', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const dir = tmp();
  const seen: [number, number | undefined][] = [];
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir, onProgress: (r, t) => seen.push([r, t]) });
  expect(local).toBe(path.join(dir, 'vgg19', 'model.json'));
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  expect(files(dir)).toEqual([path.join('vgg19', 'model.json')]);
  expect(seen.length).toBeGreaterThan(2);
  for (let i = 1; i < seen.length; ++i) expect(seen[i][0]).toBeGreaterThanOrEqual(seen[i - 1][0]);
  expect(seen[seen.length - 1]).toEqual([data.length, data.length]);

  expect(await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir })).toBe(local);
  expect(s.requests).toHaveLength(1);
  // A damaged cached file is not trusted: it is fetched again.
  fs.writeFileSync(local, 'garbage');
  await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir });
  expect(s.requests).toHaveLength(2);
  expect(await verifyFile(local, sha)).toBe(true);
});

test('a cut transfer leaves a .partial that the next call resumes with a Range request', async () => {
  const s = await serve((req, res, n) => (n === 1 ? sendHalf(res, 'cut') : sendFile(req, res)));
  const dir = tmp();
  const file = remote([`${s.url}/m.json`]);
  await expect(fetchFile(file, { cacheDir: dir, retries: 0 })).rejects.toThrow(/transfer cut at/);
  const partial = path.join(dir, 'vgg19', 'model.json.partial');
  const kept = fs.statSync(partial).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThanOrEqual(half);

  const local = await fetchFile(file, { cacheDir: dir });
  expect(s.requests[1].range).toBe(`bytes=${kept}-`);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  expect(fs.existsSync(partial)).toBe(false);
});

test('within one call, a retry after a cut resumes from where it stopped', async () => {
  const s = await serve((req, res, n) => (n === 1 ? sendHalf(res, 'cut') : sendFile(req, res)));
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: tmp() });
  expect(s.requests).toHaveLength(2);
  expect(s.requests[1].range).toMatch(/^bytes=\d+-$/);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
});

test('a server that ignores Range and sends 200 with the full body still yields a correct file', async () => {
  const s = await serve((req, res) => sendFile(req, res, true));
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'vgg19'));
  fs.writeFileSync(path.join(dir, 'vgg19', 'model.json.partial'), Buffer.alloc(1000, 0xee));
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir });
  expect(s.requests[0].range).toBe('bytes=1000-');
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  expect(files(dir)).toEqual([path.join('vgg19', 'model.json')]);
});

test('checksum mismatch: pinned error text and nothing left in the cache', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const dir = tmp();
  const wrong = 'ab'.repeat(32);
  const err = await fetchFile(remote([`${s.url}/m.json`], { digest: wrong }), { cacheDir: dir }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(DownloadError);
  expect((err as Error).message.split('\n')[0]).toBe(`download: checksum mismatch for ${NAME}: expected ${wrong} but received ${sha}`);
  expect(files(dir)).toEqual([]);
  expect(s.requests).toHaveLength(1); // a mismatch is not a transient failure
});

test('a bad partial that makes a resumed file fail its checksum is dropped and fetched again from byte 0', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'vgg19'));
  fs.writeFileSync(path.join(dir, 'vgg19', 'model.json.partial'), Buffer.alloc(1000, 0xee));
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir, retries: 0 });
  expect(s.requests.map((r) => r.range)).toEqual(['bytes=1000-', undefined]);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
});

test('404 on the first URL and redirects on the second still reach the file', async () => {
  const s = await serve((req, res) => {
    if (req.url === '/gone') res.writeHead(404).end();
    else if (req.url === '/r1') res.writeHead(302, { location: '/r2' }).end();
    else if (req.url === '/r2') res.writeHead(301, { location: `${s.url}/real` }).end();
    else sendFile(req, res);
  });
  const local = await fetchFile(remote([`${s.url}/gone`, `${s.url}/r1`]), { cacheDir: tmp() });
  expect(s.requests.map((r) => r.path)).toEqual(['/gone', '/r1', '/r2', '/real']);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
});

test('a redirect loop stops after 5 redirects', async () => {
  const s = await serve((req, res) => res.writeHead(302, { location: '/loop' }).end());
  await expect(fetchFile(remote([`${s.url}/loop`]), { cacheDir: tmp() })).rejects.toThrow('too many redirects (more than 5)');
  expect(s.requests).toHaveLength(6);
});

test('a mirror folder (option or EYECANDY_MIRROR) serves the file with no network', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const mirror = tmp();
  fs.mkdirSync(path.join(mirror, 'vgg19'));
  fs.writeFileSync(path.join(mirror, NAME), data);
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: tmp(), mirror });
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  process.env.EYECANDY_MIRROR = mirror;
  await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: tmp() });
  expect(s.requests).toHaveLength(0);
});

test('a mirror base URL is tried before the canonical URLs', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const local = await fetchFile(remote(['http://127.0.0.1:1/never']), { cacheDir: tmp(), mirror: `${s.url}/zoo` });
  expect(s.requests.map((r) => r.path)).toEqual([`/zoo/${NAME}`]);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
});

test('when every source fails the error lists each attempt and how to work offline', async () => {
  const s = await serve((req, res) => res.writeHead(404).end());
  const closed = await serve(() => undefined);
  await new Promise((r) => servers.pop()?.close(r)); // a port nothing listens on
  const mirror = tmp();
  const err = (await fetchFile(remote([`${s.url}/a`, `${closed.url}/b`]), { cacheDir: tmp(), mirror, retries: 0 }).catch(
    (e: unknown) => e,
  )) as DownloadError;
  expect(err.message).toContain(`download: could not fetch ${NAME}`);
  expect(err.message).toContain(`mirror ${path.join(mirror, 'vgg19', 'model.json')}: not found`);
  expect(err.message).toContain(`${s.url}/a: HTTP 404 Not Found`);
  expect(err.message).toContain(`${closed.url}/b: `);
  expect(err.message).toContain(
    `pass --model PATH to use a local file, or set EYECANDY_MIRROR to a folder or base URL that holds ${NAME}`,
  );
  expect(err.attempts).toHaveLength(3);
});

test('an AbortSignal stops the transfer and leaves a .partial that a later call resumes', async () => {
  const s = await serve((req, res, n) => (n === 1 ? sendHalf(res, 'stall') : sendFile(req, res)));
  const dir = tmp();
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Abort a little after half has arrived, so every received byte has reached the disk.
  const onProgress = (received: number): void => {
    if (received >= half) timer ??= setTimeout(() => ac.abort(), 100);
  };
  await expect(fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir, signal: ac.signal, onProgress })).rejects.toMatchObject({
    name: 'AbortError',
  });
  const partial = path.join(dir, 'vgg19', 'model.json.partial');
  expect(fs.statSync(partial).size).toBe(half);

  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir });
  expect(s.requests[1].range).toBe(`bytes=${half}-`);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
});

test('a stalled server is dropped after timeoutMs', async () => {
  const s = await serve((req, res) => sendHalf(res, 'stall'));
  await expect(fetchFile(remote([`${s.url}/m.json`]), { cacheDir: tmp(), timeoutMs: 200, retries: 0 })).rejects.toThrow(
    'no data for 200 ms',
  );
});

test('options and files are checked with the usual error text', async () => {
  await expect(fetchFile(remote([], { name: '../x' }))).rejects.toThrow(
    "download: Expected relative '/'-separated path without '..' for file.name but received '../x' of type string",
  );
  await expect(fetchFile(remote([], { digest: 'abc' }))).rejects.toThrow(
    "download: Expected 64 (sha256) or 32 (md5) hex digits for file.digest but received 'abc' of type string",
  );
  await expect(fetchFile(remote([]), { cacheDir: tmp(), retries: 11 })).rejects.toThrow(
    'download: Expected integer between 0 and 10 for retries but received 11 of type number',
  );
});

test('cacheDir follows EYECANDY_CACHE, else ~/.cache/eyecandy', () => {
  const saved = process.env.EYECANDY_CACHE;
  try {
    process.env.EYECANDY_CACHE = '/some/where';
    expect(cacheDir()).toBe('/some/where');
    delete process.env.EYECANDY_CACHE;
    expect(cacheDir()).toBe(path.join(os.homedir(), '.cache', 'eyecandy'));
  } finally {
    if (saved !== undefined) process.env.EYECANDY_CACHE = saved;
  }
});

test('progressBar: one final line off a TTY, carriage-return redraws on a TTY', () => {
  const plain: string[] = [];
  const bar = progressBar('vgg19', { write: (t) => plain.push(t) });
  for (const r of [0, 1e6, 2e6, 2e6]) bar(r, 2e6);
  expect(plain).toHaveLength(1);
  expect(plain[0]).toMatch(/^vgg19  100%  2\.0\/2\.0 MB  .* MB\/s  in .* s\n$/);

  const tty: string[] = [];
  const live = progressBar('vgg19', { write: (t) => tty.push(t), isTTY: true });
  live(0, 2e6);
  live(2e6, 2e6);
  expect(tty).toHaveLength(2);
  expect(tty[0].startsWith('\r')).toBe(true);
  expect(tty[1]).toMatch(/^\rvgg19  100%.*\n$/);
});

/** Sends `data` in 10 slow pieces, so transfers of it overlap. */
/** Sends `data` in ten steps 30 ms apart; with `gate`, the second half waits until it resolves. */
function sendSlowly(res: http.ServerResponse, gate?: Promise<unknown>): void {
  res.writeHead(200, { 'content-length': data.length });
  let i = 0;
  const step = Math.ceil(data.length / 10);
  const next = () => {
    if (i >= data.length) return void res.end();
    res.write(data.subarray(i, (i += step)));
    if (gate && i >= data.length / 2) {
      const g = gate;
      gate = undefined;
      void g.then(() => setTimeout(next, 30));
    } else setTimeout(next, 30);
  };
  next();
}

test('two fetches of one file in one process share one transfer', async () => {
  const s = await serve((req, res) => sendSlowly(res));
  const dir = tmp();
  const file = remote([`${s.url}/m.json`]);
  const [a, b] = await Promise.all([fetchFile(file, { cacheDir: dir }), fetchFile(file, { cacheDir: dir })]);
  expect(a).toBe(b);
  expect(s.requests).toHaveLength(1);
  expect(fs.readFileSync(a).equals(data)).toBe(true);
  expect(files(dir)).toEqual([path.join('vgg19', 'model.json')]);
});

test('two processes fetching one file into one cache never write one partial: both get it whole', async () => {
  // The first transfer stops halfway until the second request arrives, so the two transfers
  // always overlap, however late the second process starts (else it may find the file whole).
  // The 20 s bound only ends a run in which no second request comes; the count below then fails.
  let secondArrived!: () => void;
  const gate = new Promise<void>((resolve) => {
    secondArrived = resolve;
    setTimeout(resolve, 20000).unref();
  });
  const s = await serve((req, res, n) => {
    if (n === 2) secondArrived();
    sendSlowly(res, n === 1 ? gate : undefined);
  });
  const dir = tmp();
  const dist = path.resolve(__dirname, '../../dist/models/zoo/download.js');
  const script = `require(${JSON.stringify(dist)}).fetchFile(${JSON.stringify(remote([`${s.url}/m.json`]))}, { cacheDir: ${JSON.stringify(dir)} })
    .then((p) => console.log(p), (e) => { console.error(e.message); process.exit(1); });`;
  const { spawn } = await import('node:child_process');
  const runOne = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, ['-e', script], { env: { ...process.env, EYECANDY_OFFLINE: '' } });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
    });
  const [a, b] = await Promise.all([runOne(), runOne()]);
  expect([a, b]).toEqual([
    { code: 0, out: `${path.join(dir, 'vgg19', 'model.json')}\n` },
    { code: 0, out: `${path.join(dir, 'vgg19', 'model.json')}\n` },
  ]);
  expect(s.requests).toHaveLength(2);
  expect(fs.readFileSync(path.join(dir, 'vgg19', 'model.json')).equals(data)).toBe(true);
  expect(files(dir)).toEqual([path.join('vgg19', 'model.json')]); // no lock or partial left
});

test("a lock left by a process that died is taken over, and its partial resumed", async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'vgg19'));
  fs.writeFileSync(path.join(dir, 'vgg19', 'model.json.partial'), data.subarray(0, half));
  fs.writeFileSync(path.join(dir, 'vgg19', 'model.json.lock'), '2147483646'); // no such process
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir });
  expect(s.requests.map((r) => r.range)).toEqual([`bytes=${half}-`]);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  expect(files(dir)).toEqual([path.join('vgg19', 'model.json')]);
});

test('a full disk mid-download fails at once, naming the partial and ENOSPC, and leaves no file that passes; with room again it resumes', async () => {
  const s = await serve((req, res) => sendFile(req, res));
  const dir = tmp();
  mockDiskLeft = 100_000;
  try {
    await expect(fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir })).rejects.toThrow(
      /^download: no space left on the device to write .*model\.json\.partial \(ENOSPC\)/,
    );
  } finally {
    mockDiskLeft = undefined;
  }
  expect(s.requests).toHaveLength(1); // not retried: a full disk stays full
  expect(fs.existsSync(path.join(dir, NAME))).toBe(false);
  expect(await verifyFile(path.join(dir, NAME), sha)).toBe(false);
  // What was written is the file's first bytes, so the next call resumes from there.
  expect(fs.readFileSync(path.join(dir, `${NAME}.partial`)).equals(data.subarray(0, 100_000))).toBe(true);
  const local = await fetchFile(remote([`${s.url}/m.json`]), { cacheDir: dir });
  expect(s.requests.map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);
  expect(fs.readFileSync(local).equals(data)).toBe(true);
  expect(files(dir)).toEqual([NAME]);
});
