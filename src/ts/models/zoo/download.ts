// Model weights: fetched once into a cache directory, resumable, checked by
// sha256 and moved into place with a rename, so a file under its final name is
// always whole and verified. Sources: a mirror (folder or base URL) first, then
// each canonical URL.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { checkInteger, invalidParameterError } from '../../validate';

const WHO = 'download';
const MAX_REDIRECTS = 5;

/** One file of a model, as the zoo describes it. */
export interface RemoteFile {
  /** Relative '/'-separated path in the cache and under a mirror, e.g. 'vgg19/model.json'; no '..' segments. */
  name: string;
  /** Canonical http(s) URLs, tried in order after the mirror; may be empty when only a mirror serves it. */
  urls: string[];
  /**
   * Digest of the whole file in hex: sha256 (64 digits), or md5 (32 digits) where
   * the publisher gives only that (the Keras applications weights).
   */
  digest: string;
  /** Size in bytes when known (integer >= 0): checked before hashing, and the progress total when a server omits it. */
  size?: number;
}

export interface FetchOptions {
  /** Cache root. Default cacheDir(): $EYECANDY_CACHE, else ~/.cache/eyecandy. */
  cacheDir?: string;
  /** A folder, file: URL or http(s) base URL holding files under their `name`, tried before the URLs. Default $EYECANDY_MIRROR; '' means none. */
  mirror?: string;
  /**
   * Called as bytes arrive. `received` counts bytes in the partial file (resumed ones included, so it drops back
   * to 0 if a server ignores a Range request); `total` is undefined while unknown. On success the last call has
   * received === total. Default: no reporting.
   */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Stops the transfer and rejects with signal.reason; the .partial stays so a later call resumes. Default none. */
  signal?: AbortSignal;
  /** Milliseconds a request may go without any data before it is dropped, integer 1 to 3600000. Default 30000. */
  timeoutMs?: number;
  /**
   * Use only the cache and the mirror, never the canonical URLs (a mirror given as a base URL
   * is still asked). Default: true when $EYECANDY_OFFLINE is '1', else false.
   */
  offline?: boolean;
  /** Extra tries per source after a transient failure (network error, cut transfer, 5xx, 408, 429), integer 0 to 10. Default 2. */
  retries?: number;
}

/** One source that failed, in the order tried. */
export interface FetchAttempt {
  source: string;
  reason: string;
}

/** Thrown when no source yields the file; `attempts` lists why each failed. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly attempts: FetchAttempt[],
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** $EYECANDY_CACHE, else ~/.cache/eyecandy. */
export function cacheDir(): string {
  return process.env.EYECANDY_CACHE || path.join(os.homedir(), '.cache', 'eyecandy');
}

/** Where `file` lives (or will live) under the cache root. */
export function localPath(file: Pick<RemoteFile, 'name'>, root: string = cacheDir()): string {
  return path.join(root, ...file.name.split('/'));
}

/** Streams the file through sha256 (or md5 for a 32-digit digest); false when it is missing or differs. */
export async function verifyFile(file: string, digest: string): Promise<boolean> {
  try {
    return (await hashFile(file, digest)) === digest.toLowerCase();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

async function hashFile(file: string, digest: string): Promise<string> {
  const hash = createHash(digest.length === 32 ? 'md5' : 'sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A failure of one try at one source. `retry`: worth another try; `fresh`: worth one more try from byte 0. */
class Failure extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly fresh = false,
    readonly headline?: string,
  ) {
    super(message);
  }
}

interface Ctx {
  size?: number;
  timeoutMs: number;
  signal?: AbortSignal;
  report: (received: number, total: number | undefined) => void;
}

interface Source {
  label: string;
  /** Brings the partial file to its full length; resolves with the byte offset it resumed from. */
  transfer: (partial: string) => Promise<number>;
}

/** Returns the local path of `file`, downloading and verifying it unless the cache already holds it. */
export async function fetchFile(file: RemoteFile, options: FetchOptions = {}): Promise<string> {
  checkFile(file);
  const root = options.cacheDir ?? cacheDir();
  if (typeof root !== 'string' || root === '') throw invalidParameterError(WHO, 'cacheDir', 'non-empty string', root);
  const mirror = options.mirror ?? process.env.EYECANDY_MIRROR ?? '';
  if (typeof mirror !== 'string') throw invalidParameterError(WHO, 'mirror', 'folder or http(s) base URL', mirror);
  const { onProgress, signal } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw invalidParameterError(WHO, 'onProgress', 'function', onProgress);
  // Duck-typed: a signal from another realm (vm, jest) is still a signal.
  if (signal !== undefined && typeof (signal as Partial<AbortSignal> | null)?.throwIfAborted !== 'function')
    throw invalidParameterError(WHO, 'signal', 'AbortSignal', signal);
  const timeoutMs = checkInteger(WHO, 'timeoutMs', options.timeoutMs ?? 30000, 1, 3600000);
  const retries = checkInteger(WHO, 'retries', options.retries ?? 2, 0, 10);
  const sha = file.digest.toLowerCase();

  const target = localPath(file, root);
  if ((file.size === undefined || (await sizeOf(target)) === file.size) && (await verifyFile(target, sha)))
    return target;
  signal?.throwIfAborted();
  await fsp.mkdir(path.dirname(target), { recursive: true });
  // One transfer per file in this process; other processes sharing the cache are handled by claimPartial.
  const running = inFlight.get(target);
  if (running) return running;
  const job = transferAndVerify(file, target, sha, mirror, options).finally(() => inFlight.delete(target));
  inFlight.set(target, job);
  return job;
}

/** Downloads in flight in this process, by target path. */
const inFlight = new Map<string, Promise<string>>();

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The partial file this process may write. The canonical `<target>.partial` (resumable by a later
 * run) is taken with a `<target>.lock` holding our pid, or from a dead owner; while another live
 * process holds it, a private partial is used instead, so two processes never write one file
 * (they each verify their own copy, and the atomic rename makes either the file).
 */
async function claimPartial(target: string): Promise<{ partial: string; release: () => Promise<void> }> {
  const lock = `${target}.lock`;
  for (let tries = 0; tries < 2; ++tries) {
    try {
      await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
      return { partial: `${target}.partial`, release: () => fsp.rm(lock, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) break;
      await fsp.rm(lock, { force: true }); // left by a process that died: take it over
    }
  }
  const partial = `${target}.partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return { partial, release: () => fsp.rm(partial, { force: true }) };
}

async function transferAndVerify(file: RemoteFile, target: string, sha: string, mirror: string, options: FetchOptions): Promise<string> {
  const { onProgress, signal } = options;
  const timeoutMs = checkInteger(WHO, 'timeoutMs', options.timeoutMs ?? 30000, 1, 3600000);
  const retries = checkInteger(WHO, 'retries', options.retries ?? 2, 0, 10);
  // Same directory as the target, so the final rename is atomic.
  const { partial, release } = await claimPartial(target);
  try {
    return await transferInto(partial, file, target, sha, mirror, options, { onProgress, signal, timeoutMs, retries });
  } finally {
    await release();
  }
}

async function transferInto(
  partial: string,
  file: RemoteFile,
  target: string,
  sha: string,
  mirror: string,
  options: FetchOptions,
  { onProgress, signal, timeoutMs, retries }: { onProgress: FetchOptions['onProgress']; signal?: AbortSignal; timeoutMs: number; retries: number },
): Promise<string> {

  let last: [number, number | undefined] | undefined;
  const report = (received: number, total: number | undefined): void => {
    last = [received, total];
    onProgress?.(received, total);
  };
  const ctx: Ctx = { size: file.size, timeoutMs, signal, report };
  const sources: Source[] = [];
  if (mirror !== '') sources.push(mirrorSource(mirror, file.name, ctx));
  const offline = options.offline ?? process.env.EYECANDY_OFFLINE === '1';
  if (!offline) for (const url of file.urls) sources.push({ label: url, transfer: (p) => httpTransfer(url, p, ctx) });

  const attempts: FetchAttempt[] = [];
  let headline: string | undefined;
  for (const source of sources) {
    let fresh = false;
    for (let attempt = 0; ; ++attempt) {
      try {
        const resumedFrom = await source.transfer(partial);
        await checkWhole(file, sha, partial, resumedFrom > 0);
        await fsp.rename(partial, target);
        const bytes = await sizeOf(target);
        if (!last || last[0] !== bytes || last[1] !== bytes) report(bytes, bytes);
        return target;
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const f = e instanceof Failure ? e : new Failure(message(e), true);
        if (f.fresh && !fresh) {
          fresh = true; // a stale or inconsistent partial: one clean try that does not count as a retry
          --attempt;
          continue;
        }
        if (f.retry && attempt < retries) {
          await sleep(250 * 2 ** attempt, undefined, { signal }).catch(() => signal?.throwIfAborted());
          continue;
        }
        attempts.push({ source: source.label, reason: f.message });
        headline ??= f.headline;
        break;
      }
    }
  }
  const tried = attempts.length
    ? attempts.map((a) => `  ${a.source}: ${a.reason}`)
    : [`  nothing (no mirror${offline && file.urls.length ? '; offline, so the URLs were not tried' : ' and no URLs'})`];
  throw new DownloadError(
    [
      headline ?? `${WHO}: could not fetch ${file.name}`,
      'tried:',
      ...tried,
      `to work offline, pass --model PATH to use a local file, or set EYECANDY_MIRROR to a folder or base URL that holds ${file.name}`,
    ].join('\n'),
    attempts,
  );
}

function checkFile(file: RemoteFile): void {
  if (!file || typeof file !== 'object') throw invalidParameterError(WHO, 'file', 'RemoteFile object', file);
  const { name, urls, digest, size } = file;
  const parts = typeof name === 'string' ? name.split('/') : [];
  if (
    typeof name !== 'string' ||
    name.length > 256 ||
    !parts.every((p) => p !== '' && p !== '.' && p !== '..' && !/[\\\0:]/.test(p))
  )
    throw invalidParameterError(WHO, 'file.name', "relative '/'-separated path without '..'", name);
  if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string' && /^https?:\/\//i.test(u)))
    throw invalidParameterError(WHO, 'file.urls', 'array of http(s) URLs', urls);
  if (typeof digest !== 'string' || !/^([0-9a-f]{64}|[0-9a-f]{32})$/i.test(digest))
    throw invalidParameterError(WHO, 'file.digest', '64 (sha256) or 32 (md5) hex digits', digest);
  if (size !== undefined) checkInteger(WHO, 'file.size', size, 0, Number.MAX_SAFE_INTEGER);
}

/** Size and hash of a finished partial; a bad one is deleted so nothing wrong stays in the cache. */
async function checkWhole(file: RemoteFile, sha: string, partial: string, resumed: boolean): Promise<void> {
  const bytes = await sizeOf(partial);
  const got = await hashFile(partial, sha);
  if (got === sha && (file.size === undefined || bytes === file.size)) return;
  await fsp.rm(partial, { force: true });
  const sizeNote = file.size !== undefined && bytes !== file.size ? ` (${bytes} bytes, expected ${file.size})` : '';
  // After a resume the old bytes may come from another version of the file: worth one clean try.
  throw new Failure(
    `checksum mismatch: received ${got}${sizeNote}`,
    false,
    resumed,
    `${WHO}: checksum mismatch for ${file.name}: expected ${sha} but received ${got}`,
  );
}

function mirrorSource(mirror: string, name: string, ctx: Ctx): Source {
  if (/^https?:\/\//i.test(mirror)) {
    const base = mirror.endsWith('/') ? mirror : `${mirror}/`;
    const url = new URL(name.split('/').map(encodeURIComponent).join('/'), base).href;
    return { label: `mirror ${url}`, transfer: (p) => httpTransfer(url, p, ctx) };
  }
  const dir = mirror.startsWith('file:') ? fileURLToPath(mirror) : mirror;
  const src = path.join(dir, ...name.split('/'));
  return {
    label: `mirror ${src}`,
    transfer: async (partial) => {
      const st = await fsp.stat(src).catch((e: NodeJS.ErrnoException) => {
        throw new Failure(e.code === 'ENOENT' ? 'not found' : message(e), false);
      });
      if (!st.isFile()) throw new Failure('not a file', false);
      await writeBody(createReadStream(src), partial, 0, st.size, ctx);
      return 0;
    },
  };
}

/** GET with resume: a 206 appends to the partial, a 200 rewrites it from byte 0. */
async function httpTransfer(url: string, partial: string, ctx: Ctx): Promise<number> {
  let have = await sizeOf(partial);
  if (ctx.size !== undefined && have >= ctx.size) {
    if (have === ctx.size) return have; // finished earlier but never renamed (crash, or failed check elsewhere)
    await fsp.rm(partial, { force: true });
    have = 0;
  }
  const res = await get(url, have, ctx, MAX_REDIRECTS);
  const status = res.statusCode ?? 0;
  if (status === 206 && have > 0) {
    const range = res.headers['content-range'] ?? '';
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(range);
    if (!m || Number(m[1]) !== have) {
      res.resume();
      await fsp.rm(partial, { force: true });
      throw new Failure(`unexpected Content-Range '${range}' for a resume from byte ${have}`, true, true);
    }
    await writeBody(res, partial, have, m[2] === '*' ? ctx.size : Number(m[2]), ctx);
    return have;
  }
  if (status === 200) {
    const length = res.headers['content-length'];
    await writeBody(res, partial, 0, length !== undefined ? Number(length) : ctx.size, ctx);
    return 0;
  }
  res.resume();
  if (status === 416 && have > 0) {
    await fsp.rm(partial, { force: true });
    throw new Failure(`server refused a resume from byte ${have} (HTTP 416)`, true, true);
  }
  throw new Failure(`HTTP ${status} ${res.statusMessage ?? ''}`.trim(), status >= 500 || status === 408 || status === 429);
}

/** One GET, following up to `redirectsLeft` redirects; resolves with the final response. */
function get(url: string, offset: number, ctx: Ctx, redirectsLeft: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) return reject(new Failure(`unsupported protocol ${u.protocol}`, false));
    const headers: http.OutgoingHttpHeaders = { 'user-agent': 'eyecandy', 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let response: http.IncomingMessage | undefined;
    // agent: false: no keep-alive sockets left open after a download.
    const req = mod.get(u, { headers, agent: false, signal: ctx.signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirectsLeft === 0) return reject(new Failure(`too many redirects (more than ${MAX_REDIRECTS})`, false));
        return resolve(get(new URL(res.headers.location, u).href, offset, ctx, redirectsLeft - 1));
      }
      response = res;
      resolve(res);
    });
    req.setTimeout(ctx.timeoutMs, () => {
      const f = new Failure(`no data for ${ctx.timeoutMs} ms`, true);
      response?.destroy(f);
      req.destroy(f);
    });
    req.on('error', reject);
  });
}

/** Streams `body` into the partial from `offset`, reporting progress; a short body is a retryable failure. */
async function writeBody(body: Readable, partial: string, offset: number, total: number | undefined, ctx: Ctx): Promise<void> {
  const out = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
  let received = offset;
  ctx.report(received, total);
  try {
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          received += chunk.length;
          ctx.report(received, total);
          yield chunk;
        }
      },
      out,
      { signal: ctx.signal },
    );
  } catch (e) {
    // Let the bytes already written land before anyone resumes from the partial's size.
    // (not events.once: the stream re-emits the pipeline's error first, which once() would throw)
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    if (ctx.signal?.aborted || e instanceof Failure) throw e;
    // A full disk does not clear between retries: stop at once and say where. The bytes written
    // stay in the partial (it holds only what was received, in order), so a later call resumes.
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      throw new Failure(
        `no space left on the device (${code}) after ${received} bytes`,
        false,
        false,
        `${WHO}: no space left on the device to write ${partial} (${code}); free some space (the download resumes from the bytes already written) or point EYECANDY_CACHE / --cache-dir at a disk with room`,
      );
    throw new Failure(`transfer cut at ${received}${total !== undefined ? ` of ${total}` : ''} bytes: ${message(e)}`, true);
  }
  if (total !== undefined && received < total) throw new Failure(`transfer ended early at ${received} of ${total} bytes`, true);
}

async function sizeOf(file: string): Promise<number> {
  return fsp.stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/** An error's message; duck-typed because errors from Node internals may come from another realm (jest). */
function message(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : String(e);
}

/** Where progressBar draws: process.stderr, or anything with write() and isTTY. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * An onProgress callback that redraws one line (percentage, MB, rate) on a TTY at most 10 times a second, and on
 * anything else prints a single line once the transfer completes, so logs stay short.
 */
export function progressBar(label: string, stream: ProgressStream = process.stderr): (received: number, total: number | undefined) => void {
  const start = Date.now();
  let first: number | undefined;
  let lastDraw = 0;
  let done = false;
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  return (received, total) => {
    if (done) return;
    first ??= received; // resumed bytes did not arrive now: leave them out of the rate
    const finished = total !== undefined && received >= total;
    const now = Date.now();
    if (stream.isTTY && !finished && now - lastDraw < 100) return;
    if (!stream.isTTY && !finished) return;
    lastDraw = now;
    const seconds = Math.max(now - start, 1) / 1000;
    const rate = `${mb(Math.max(received - first, 0) / seconds)} MB/s`;
    const pct = total ? `${Math.floor((100 * received) / total)}%`.padStart(4) : '';
    const amount = total !== undefined ? `${mb(received)}/${mb(total)} MB` : `${mb(received)} MB`;
    const line = [label, pct, amount, rate].filter((s) => s !== '').join('  ');
    if (stream.isTTY) stream.write(`\r${line}\x1b[K${finished ? '\n' : ''}`);
    else stream.write(`${line}  in ${seconds.toFixed(1)} s\n`);
    done = finished;
  };
}
