// The server's HTTP API against a real server on loopback: every endpoint, every limit with its
// status code and the one error shape, cancellation, SSE order, idempotency, retention, time limits.
import sharp from 'sharp';

import { RunningServer, startServer } from '../../src/ts/server/app';
import { form, isDog, json, modelOptions, photoBytes, readEvents, waitFor, removeTmp } from './helpers';

let main: RunningServer;
let strict: RunningServer;
let small: Buffer;

/** A style job that runs until cancelled (64 px, many iterations). */
const longStyle = () => form({ image: small, style: [small], task: 'style', options: { size: 64, iterations: 100000, optimizer: 'adam' } });

beforeAll(async () => {
  main = await startServer({ ...modelOptions, port: 0, logger: false, queueCapacity: 2 });
  strict = await startServer({
    ...modelOptions, port: 0, logger: false, preload: false, maxUploadBytes: 256 * 1024, maxPixels: 1_000_000, apiKeys: ['secret-1'],
    jobTimeoutMs: 1500, resultTtlMs: 1500,
  });
  small = await sharp(photoBytes).resize(96, 72).jpeg().toBuffer();
  await waitFor(async () => ((await fetch(`${main.url}/readyz`)).status === 200 ? true : undefined));
});

afterAll(async () => {
  await main?.close();
  await strict?.close();
  removeTmp();
});

const post = (s: RunningServer, route: string, body: FormData, headers: Record<string, string> = {}) => fetch(`${s.url}${route}`, { method: 'POST', body, headers });
const key = { authorization: 'Bearer secret-1' };

describe('operations', () => {
  test('healthz, readyz, openapi, metrics; no CORS header by default', async () => {
    const h = await fetch(`${main.url}/healthz`);
    expect([h.status, await h.json()]).toEqual([200, { status: 'ok' }]);
    expect(h.headers.get('access-control-allow-origin')).toBeNull();
    const r = await json(await fetch(`${main.url}/readyz`));
    expect(r).toMatchObject({ ready: true, modelLoaded: true, queue: { waiting: 0, capacity: 2 } });
    const doc = await json(await fetch(`${main.url}/openapi.json`));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}/events', '/v1/classify', '/metrics']));
    const m = await (await fetch(`${main.url}/metrics`)).text();
    for (const name of ['eyecandy_queue_depth', 'eyecandy_job_wait_seconds', 'eyecandy_job_run_seconds', 'eyecandy_batch_size', 'eyecandy_rejections_total', 'eyecandy_native_memory_bytes', 'eyecandy_process_resident_memory_bytes'])
      expect(m).toContain(name);
    const nf = await fetch(`${main.url}/nope`);
    expect(nf.status).toBe(404);
    expect((await json(nf)).error.code).toBe('not_found');
  });
});

describe('classify', () => {
  test('synchronous classify of cat_dog.jpg names a dog first', async () => {
    const res = await post(main, '/v1/classify', form({ image: photoBytes, options: { topK: 3 } }));
    const body = await json(res);
    expect(res.status).toBe(200);
    expect(body.classes).toHaveLength(3);
    expect(isDog(body.classes[0].index)).toBe(true);
    expect(body.inputSize).toEqual([224, 224]);
  });

  test('concurrent requests are batched and agree with a lone request', async () => {
    const lone = await json(await post(main, '/v1/classify', form({ image: photoBytes })));
    const before = await (await fetch(`${main.url}/metrics`)).text();
    const all = await Promise.all([0, 1, 2, 3].map(() => post(main, '/v1/classify', form({ image: photoBytes })).then(json)));
    for (const r of all) {
      expect(r.classes.map((c: { index: number }) => c.index)).toEqual(lone.classes.map((c: { index: number }) => c.index));
      expect(r.classes[0].probability).toBeCloseTo(lone.classes[0].probability, 4);
    }
    const after = await (await fetch(`${main.url}/metrics`)).text();
    const count = (t: string) => Number(/eyecandy_batch_size_count (\d+)/.exec(t)?.[1] ?? 0);
    // Four requests in fewer than four forwards.
    expect(count(after) - count(before)).toBeLessThan(4);
  });
});

describe('limits, in one JSON error shape', () => {
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['upload over the size limit', () => post(strict, '/v1/jobs', form({ image: Buffer.alloc(300 * 1024, 1), task: 'classify' }), key), 413, 'upload_too_large'],
    ['too many pixels (refused from the header)', async () => post(strict, '/v1/jobs', form({ image: await sharp({ create: { width: 1200, height: 1000, channels: 3, background: 'white' } }).png().toBuffer(), task: 'classify' }), key), 413, 'image_too_large'],
    ['not an image', () => post(main, '/v1/jobs', form({ image: Buffer.from('#!/bin/sh\necho hi\n'), task: 'classify' })), 415, 'unsupported_format'],
    ['an SVG (not accepted)', () => post(main, '/v1/jobs', form({ image: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'), task: 'classify' })), 415, 'unsupported_format'],
    ['not multipart', () => fetch(`${main.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":"classify"}' }), 415, 'unsupported_media_type'],
    ['no image', () => post(main, '/v1/jobs', form({ task: 'classify' })), 400, 'missing_upload'],
    ['unknown task', () => post(main, '/v1/jobs', form({ image: small, task: 'paint' })), 400, 'invalid_task'],
    ['options not JSON', () => post(main, '/v1/jobs', form({ image: small, task: 'classify', options: '{top' })), 400, 'invalid_options'],
    ['option out of range (the task\'s own check)', () => post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { topK: 0 } })), 400, 'invalid_option'],
    ['dream option out of range', () => post(main, '/v1/jobs', form({ image: small, task: 'dream', options: { steps: 5000 } })), 400, 'invalid_option'],
    ['style option out of range', () => post(main, '/v1/jobs', form({ image: small, style: [small], task: 'style', options: { size: 8 } })), 400, 'invalid_option'],
    ['locate option out of range', () => post(main, '/v1/jobs', form({ image: small, task: 'locate', options: { components: 11 } })), 400, 'invalid_option'],
    ['unknown option', () => post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { top: 3 } })), 400, 'unknown_option'],
    ['a model path', () => post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { model: '/etc/passwd' } })), 400, 'option_not_allowed'],
    ['a labels file', () => post(main, '/v1/classify', form({ image: small, options: { labels: '/etc/passwd' } })), 400, 'option_not_allowed'],
    ['an init URL', () => post(main, '/v1/jobs', form({ image: small, style: [small], task: 'style', options: { init: 'http://example.com/x.png' } })), 400, 'option_not_allowed'],
    ['style without a style image', () => post(main, '/v1/jobs', form({ image: small, task: 'style' })), 400, 'missing_upload'],
    ['a bad job id', () => fetch(`${main.url}/v1/jobs/..%2F..%2Fetc`), 400, 'invalid_request'],
    ['an unknown job', () => fetch(`${main.url}/v1/jobs/0000-1111`), 404, 'job_not_found'],
    ['an unknown job\'s events', () => fetch(`${main.url}/v1/jobs/0000-1111/events`), 404, 'job_not_found'],
    ['no API key', () => post(strict, '/v1/classify', form({ image: small })), 401, 'unauthorized'],
    ['a wrong API key', () => fetch(`${strict.url}/v1/jobs/0000`, { headers: { 'x-api-key': 'secret-2' } }), 401, 'unauthorized'],
  ];
  test.each(cases)('%s', async (_, send, status, code) => {
    const res = await send();
    const body = await json(res);
    expect([res.status, body.error.code]).toEqual([status, code]);
  });

  test('messages name the value and what was expected', async () => {
    const body = await json(await post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { topK: 0 } })));
    expect(body.error.message).toBe('classify: Expected integer between 1 and 1001 for topK but received 0 of type number');
    const big = await json(await post(strict, '/v1/jobs', form({ image: await sharp({ create: { width: 1200, height: 1000, channels: 3, background: 'white' } }).png().toBuffer(), task: 'classify' }), key));
    expect(big.error.message).toBe('image: 1200x1000 (1200000 pixels) exceeds the limit of 1000000 pixels');
  });

  test('an API key lets a request through', async () => {
    const res = await post(strict, '/v1/classify', form({ image: small }), { 'x-api-key': 'secret-1' });
    expect(res.status).toBe(200);
  });
});

describe('jobs', () => {
  test('dream: 202, SSE in order (queued, running, progress with images, done), result and PNG', async () => {
    const res = await post(main, '/v1/jobs', form({ image: small, task: 'dream', options: { octaves: 1, steps: 3, jitter: 4, progressImages: true } }));
    expect(res.status).toBe(202);
    const job = await json(res);
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(job).toMatchObject({ task: 'dream', state: expect.stringMatching(/queued|running/) });
    const events = await readEvents(`${main.url}${job.links.events}`);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    const kinds = events.map((e) => (e.event === 'state' ? e.data.state : e.event));
    expect(kinds).toEqual(['queued', 'running', 'progress', 'image', 'progress', 'image', 'progress', 'image', 'done']);
    expect(events.filter((e) => e.event === 'progress').map((e) => e.data.step)).toEqual([1, 2, 3]);
    expect(events.at(-1)!.data).toMatchObject({ state: 'succeeded', files: ['dream.png'] });
    expect(String(events[3].data.dataUrl)).toMatch(/^data:image\/png;base64,/);
    // Replay from Last-Event-ID gives only what came after.
    const rest = await readEvents(`${main.url}${job.links.events}`, undefined, { 'last-event-id': '7' });
    expect(rest.map((e) => e.id)).toEqual([8, 9]);
    const view = await json(await fetch(`${main.url}/v1/jobs/${job.id}`));
    expect(view).toMatchObject({ state: 'succeeded', progress: { step: 3, steps: 3, fraction: 1 }, error: null });
    expect(view.timings.runMs).toBeGreaterThan(0);
    const result = await json(await fetch(`${main.url}/v1/jobs/${job.id}/result`));
    expect(result.result.objective.final).toBeGreaterThan(result.result.objective.initial);
    const png = await fetch(`${main.url}${result.files['dream.png']}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(await sharp(Buffer.from(await png.arrayBuffer())).metadata()).toMatchObject({ format: 'png', width: 96, height: 72 });
    const missing = await fetch(`${main.url}/v1/jobs/${job.id}/result/other.png`);
    expect([missing.status, (await json(missing)).error.code]).toEqual([404, 'file_not_found']);
  });

  test('style and locate jobs give their images and report', async () => {
    const s = await json(await post(main, '/v1/jobs', form({ image: small, style: [small, small], task: 'style', options: { size: 48, iterations: 3, styleWeights: [1, 2] } })));
    const l = await json(await post(main, '/v1/jobs', form({ image: photoBytes, task: 'locate', options: { topK: 4, components: 2 } })));
    const se = await readEvents(`${main.url}${s.links.events}`);
    expect(se.at(-1)!.data.state).toBe('succeeded');
    expect(se.filter((e) => e.event === 'progress').length).toBeGreaterThanOrEqual(3);
    const le = await readEvents(`${main.url}${l.links.events}`);
    expect(le.filter((e) => e.event === 'progress').map((e) => e.data.stage)).toEqual(expect.arrayContaining(['classify', 'gradients', 'masks']));
    const lr = await json(await fetch(`${main.url}/v1/jobs/${l.id}/result`));
    expect(Object.keys(lr.files)).toEqual(expect.arrayContaining(['report.html', 'overlay.png', 'locate.json']));
    expect(lr.result.components).toHaveLength(2);
    const html = await fetch(`${main.url}${lr.files['report.html']}`);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    const sr = await json(await fetch(`${main.url}/v1/jobs/${s.id}/result`));
    expect(await sharp(Buffer.from(await (await fetch(`${main.url}${sr.files['style.png']}`)).arrayBuffer())).metadata()).toMatchObject({ width: 48, height: 36 });
  });

  test('cancel: a running job stops through its signal, a queued one never starts; a full queue answers 429 with Retry-After', async () => {
    const a = await json(await post(main, '/v1/jobs', longStyle()));
    const b = await json(await post(main, '/v1/jobs', longStyle()));
    const c = await json(await post(main, '/v1/jobs', longStyle()));
    const full = await post(main, '/v1/jobs', longStyle());
    const body = await json(full);
    expect([full.status, body.error.code]).toEqual([429, 'queue_full']);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${main.url}/readyz`)).status).toBe(503);
    // Wait for a's first iterations, then cancel it while it runs.
    const events: string[] = [];
    const stream = readEvents(`${main.url}${a.links.events}`, (e) => events.push(e.event === 'state' ? String(e.data.state) : e.event));
    await waitFor(async () => (events.includes('progress') ? true : undefined));
    const t0 = Date.now();
    const del = await json(await fetch(`${main.url}/v1/jobs/${a.id}`, { method: 'DELETE' }));
    expect(del).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
    expect(Date.now() - t0).toBeLessThan(5000);
    await stream;
    expect(events.at(-1)).toBe('done');
    const cb = await json(await fetch(`${main.url}/v1/jobs/${c.id}`, { method: 'DELETE' }));
    expect(cb).toMatchObject({ state: 'cancelled', startedAt: null });
    await waitFor(async () => ((await json(await fetch(`${main.url}/v1/jobs/${b.id}`))).state === 'running' ? true : undefined));
    expect((await json(await fetch(`${main.url}/v1/jobs/${b.id}`, { method: 'DELETE' }))).state).toBe('cancelled');
    const r = await fetch(`${main.url}/v1/jobs/${b.id}/result`);
    expect([r.status, (await json(r)).error.code]).toEqual([409, 'no_result']);
  });

  test('idempotency key: the same submit gives the same job; other options under that key conflict', async () => {
    const h = { 'idempotency-key': `k-${Date.now()}` };
    const one = await post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { topK: 2 } }), h);
    const two = await post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { topK: 2 } }), h);
    expect([one.status, two.status]).toEqual([202, 200]);
    expect((await json(two)).id).toBe((await json(one)).id);
    const other = await post(main, '/v1/jobs', form({ image: small, task: 'classify', options: { topK: 3 } }), h);
    expect([other.status, (await json(other)).error.code]).toEqual([409, 'idempotency_conflict']);
  });

  test('job time limit, then the result is forgotten after its retention time', async () => {
    const slow = await json(await post(strict, '/v1/jobs', longStyle(), key));
    const ev = await readEvents(`${strict.url}${slow.links.events}`, undefined, key);
    expect(ev.at(-1)!.data).toMatchObject({ state: 'failed', error: { code: 'timeout' } });
    const quick = await json(await post(strict, '/v1/jobs', form({ image: small, task: 'classify' }), key));
    await readEvents(`${strict.url}${quick.links.events}`, undefined, key);
    expect((await fetch(`${strict.url}/v1/jobs/${quick.id}/result`, { headers: key })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    const gone = await fetch(`${strict.url}/v1/jobs/${quick.id}`, { headers: key });
    expect([gone.status, (await json(gone)).error.code]).toEqual([404, 'job_not_found']);
  });
});

describe('shutdown', () => {
  test('close lets the running job finish, refuses new ones with 503, then closes the port', async () => {
    const s = await startServer({ ...modelOptions, port: 0, logger: false, preload: false });
    const job = await json(await post(s, '/v1/jobs', form({ image: small, task: 'dream', options: { octaves: 1, steps: 4, jitter: 0 } })));
    const events: string[] = [];
    const stream = readEvents(`${s.url}${job.links.events}`, (e) => events.push(e.event === 'state' ? String(e.data.state) : e.event));
    await waitFor(async () => (events.includes('running') ? true : undefined));
    const closing = s.close();
    const refused = await post(s, '/v1/jobs', form({ image: small, task: 'classify' }));
    expect([refused.status, (await json(refused)).error.code]).toEqual([503, 'shutting_down']);
    const ev = await stream;
    expect(ev.at(-1)!.data.state).toBe('succeeded');
    await closing;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});
