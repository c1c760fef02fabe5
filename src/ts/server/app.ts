// The HTTP API (fastify 5): jobs for the four tasks, a synchronous classify with dynamic
// batching, Server-Sent Events, health, metrics, an OpenAPI document and the web page.
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { timingSafeEqual } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { taskNetwork } from '../tasks/runtime';
import { BackendName } from '../tasks/runtime';
import { Backend, StreamEvent } from './backend';
import { BatchOptions, ClassifyBatcher } from './batcher';
import { errorBody, HttpError } from './errors';
import { Metrics } from './metrics';
import { watchNetwork } from './native-memory';
import { openApi } from './openapi';
import { DeviceLock, LocalQueue } from './queue';
import { checkJob, checkUpload, JobInputs, RunConfig } from './tasks';

export interface ServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  model: string;
  mirror?: string;
  cacheDir?: string;
  backend: BackendName;
  /** Jobs that may wait before 429. */
  queueCapacity: number;
  jobTimeoutMs: number;
  resultTtlMs: number;
  maxUploadBytes: number;
  maxPixels: number;
  /** When non-empty, /v1 asks for one of these in `Authorization: Bearer` or `X-API-Key`. */
  apiKeys: string[];
  /** An origin allowed to call from a browser; CORS is off without one. */
  corsOrigin?: string;
  batch: BatchOptions;
  /** How long shutdown lets a running job finish. */
  graceMs: number;
  /** Load the model and compile the classify network before /readyz says ready. */
  preload: boolean;
  logger: boolean;
  /** A queue to use instead of the embedded one (the Redis backend). */
  backendFactory?: (run: RunConfig, device: DeviceLock, metrics: Metrics) => Backend;
}

export const DEFAULTS: Omit<ServerOptions, 'model'> = {
  host: '127.0.0.1',
  port: 8080,
  backend: 'cpu',
  queueCapacity: 16,
  jobTimeoutMs: 10 * 60_000,
  resultTtlMs: 60 * 60_000,
  maxUploadBytes: 20 * 2 ** 20,
  maxPixels: 40_000_000,
  apiKeys: [],
  batch: { maxBatch: 8, maxDelayMs: 5, capacity: 64 },
  graceMs: 30_000,
  preload: true,
  logger: true,
};

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  backend: Backend;
  metrics: Metrics;
  /** Graceful: no new work, running jobs finish (graceMs), then the port closes. */
  close(): Promise<void>;
}

function pageDir(): string {
  for (const d of [path.resolve(__dirname, '../../../public'), path.resolve(__dirname, '../../public')]) if (fs.existsSync(path.join(d, 'index.html'))) return d;
  return path.resolve(__dirname, '../../../public');
}

interface Upload {
  fields: Record<string, string>;
  inputs: JobInputs;
}

async function readUpload(req: FastifyRequest, maxPixels: number, maxBytes: number): Promise<Upload> {
  if (!req.isMultipart()) throw new HttpError(415, 'unsupported_media_type', 'send multipart/form-data with the field `image` (and `style` for style), `task` and `options`');
  const fields: Record<string, string> = {};
  let image: Buffer | undefined;
  const styles: Buffer[] = [];
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'image' && part.fieldname !== 'style') {
        part.file.resume();
        throw new HttpError(400, 'unexpected_upload', `upload field '${part.fieldname}': expected 'image' or 'style'`);
      }
      let bytes: Buffer;
      try {
        bytes = await part.toBuffer();
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE')
          throw new HttpError(413, 'upload_too_large', `${part.fieldname}: the upload exceeds the limit of ${maxBytes} bytes`);
        throw err;
      }
      await checkUpload(part.fieldname, bytes, maxPixels);
      if (part.fieldname === 'image') {
        if (image) throw new HttpError(400, 'unexpected_upload', 'image: upload one image only');
        image = bytes;
      } else styles.push(bytes);
    } else {
      if (typeof part.value !== 'string') throw new HttpError(400, 'invalid_field', `field '${part.fieldname}': expected text`);
      fields[part.fieldname] = part.value;
    }
  }
  if (!image) throw new HttpError(400, 'missing_upload', 'image: upload the image as the multipart file field `image`');
  for (const k of Object.keys(fields))
    if (!['task', 'options'].includes(k)) throw new HttpError(400, 'invalid_field', `field '${k}': expected 'task' or 'options' (uploads: 'image', 'style')`);
  return { fields, inputs: { image, styles } };
}

function sameKey(a: string, keys: string[]): boolean {
  const x = Buffer.from(a);
  return keys.some((k) => {
    const y = Buffer.from(k);
    return x.length === y.length && timingSafeEqual(x, y);
  });
}

export async function startServer(options: Partial<ServerOptions> & { model: string }): Promise<RunningServer> {
  const o: ServerOptions = { ...DEFAULTS, ...options, batch: { ...DEFAULTS.batch, ...options.batch } };
  const run: RunConfig = { model: o.model, mirror: o.mirror, cacheDir: o.cacheDir, backend: o.backend, maxPixels: o.maxPixels };
  const metrics = new Metrics();
  const device = new DeviceLock();
  const backend = o.backendFactory
    ? o.backendFactory(run, device, metrics)
    : new LocalQueue({ capacity: o.queueCapacity, jobTimeoutMs: o.jobTimeoutMs, resultTtlMs: o.resultTtlMs, run }, device, metrics);
  const batcher = new ClassifyBatcher(run, device, metrics, o.batch);
  const streams = new Set<FastifyReply>();
  let ready = !o.preload;
  let closing = false;

  const app = Fastify({ logger: o.logger ? { level: 'info' } : false, bodyLimit: 1 << 20, forceCloseConnections: 'idle' });
  await app.register(multipart, { limits: { fileSize: o.maxUploadBytes, files: 9, fields: 4, parts: 13, fieldSize: 64 * 1024 }, throwFileSizeLimit: true });
  await app.register(fastifyStatic, { root: pageDir(), prefix: '/', index: 'index.html' });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    let status = 500;
    let code = 'internal_error';
    let message = 'internal error';
    if (err instanceof HttpError) {
      ({ status, code, message } = err);
      reply.headers(err.headers);
    } else if (err.validation) {
      [status, code, message] = [400, 'invalid_request', err.message];
    } else if (err.statusCode === 413 || err.code === 'FST_REQ_FILE_TOO_LARGE') {
      [status, code, message] = [413, 'upload_too_large', `the request exceeds the upload limits (${o.maxUploadBytes} bytes a file, 9 files): ${err.message}`];
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      [status, code, message] = [err.statusCode, (err.code ?? 'bad_request').toLowerCase(), err.message];
    } else if (o.logger) {
      req.log.error(err);
    } else {
      process.stderr.write(`eyecandy serve: ${req.method} ${req.url}: ${err.stack ?? err.message}\n`);
    }
    if (status !== 500) metrics.rejections.inc({ code });
    reply.code(status).send(errorBody(status, code, message));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  app.addHook('onRequest', async (req, reply) => {
    if (o.corsOrigin) {
      reply.header('access-control-allow-origin', o.corsOrigin);
      reply.header('vary', 'origin');
    }
    if (o.apiKeys.length && req.url.startsWith('/v1/')) {
      const auth = req.headers.authorization;
      const key = auth?.startsWith('Bearer ') ? auth.slice(7) : (req.headers['x-api-key'] as string | undefined);
      if (!key || !sameKey(key, o.apiKeys)) throw new HttpError(401, 'unauthorized', 'an API key is required: Authorization: Bearer KEY or X-API-Key: KEY');
    }
  });
  if (o.corsOrigin)
    app.options('/v1/*', async (req, reply) => {
      reply.header('access-control-allow-methods', 'GET, POST, DELETE').header('access-control-allow-headers', 'authorization, x-api-key, idempotency-key, content-type').code(204).send();
    });

  const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } }, required: ['id'] } as const;
  const notFound = (id: string) => new HttpError(404, 'job_not_found', `job '${id}' does not exist or its result has expired`);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    const q = await backend.depth();
    const ok = ready && !closing && q.waiting < q.capacity;
    reply.code(ok ? 200 : 503).send({ ready: ok, modelLoaded: ready, closing, queue: q });
  });
  app.get('/metrics', async (req, reply) => {
    const q = await backend.depth();
    metrics.queueDepth.set(q.waiting);
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/openapi.json', async () => openApi());

  app.post('/v1/classify', async (req) => {
    if (closing) throw new HttpError(503, 'shutting_down', 'the server is shutting down');
    const { fields, inputs } = await readUpload(req, o.maxPixels, o.maxUploadBytes);
    if (fields.task !== undefined && fields.task !== 'classify') throw new HttpError(400, 'invalid_task', `task: /v1/classify runs classify only (use /v1/jobs for ${fields.task})`);
    const spec = checkJob('classify', fields.options, inputs);
    return batcher.classify(inputs.image, spec.options);
  });

  app.post('/v1/jobs', async (req, reply) => {
    const key = req.headers['idempotency-key'];
    if (key !== undefined && (typeof key !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(key)))
      throw new HttpError(400, 'invalid_idempotency_key', 'Idempotency-Key: 1 to 200 visible ASCII characters');
    const { fields, inputs } = await readUpload(req, o.maxPixels, o.maxUploadBytes);
    const spec = checkJob(fields.task, fields.options, inputs);
    const { job, created } = await backend.submit(spec, inputs, key as string | undefined);
    reply.header('location', `/v1/jobs/${job.id}`).code(created ? 202 : 200);
    return links(job);
  });

  const links = (job: { id: string; files: string[] }) => ({
    ...job,
    links: {
      self: `/v1/jobs/${job.id}`,
      events: `/v1/jobs/${job.id}/events`,
      result: `/v1/jobs/${job.id}/result`,
      files: Object.fromEntries(job.files.map((f) => [f, `/v1/jobs/${job.id}/result/${f}`])),
    },
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { params: idParams } }, async (req) => {
    const job = await backend.get(req.params.id);
    if (!job) throw notFound(req.params.id);
    return links(job);
  });

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { params: idParams } }, async (req) => {
    const job = await backend.cancel(req.params.id);
    if (!job) throw notFound(req.params.id);
    return links(job);
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/result', { schema: { params: idParams } }, async (req) => {
    const job = await backend.get(req.params.id);
    if (!job) throw notFound(req.params.id);
    if (job.state !== 'succeeded')
      throw new HttpError(409, 'no_result', `job '${job.id}' is ${job.state}${job.error ? ` (${job.error.code}: ${job.error.message})` : ''}; a result exists once it has succeeded`);
    return { id: job.id, task: job.task, result: await backend.result(job.id), files: links(job).links.files };
  });

  app.get<{ Params: { id: string; name: string } }>(
    '/v1/jobs/:id/result/:name',
    { schema: { params: { type: 'object', properties: { ...idParams.properties, name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' } }, required: ['id', 'name'] } } },
    async (req, reply) => {
      const f = await backend.file(req.params.id, req.params.name);
      if (!f) throw new HttpError(404, 'file_not_found', `job '${req.params.id}' has no result file '${req.params.name}' (yet, or any more)`);
      reply.type(f.type).header('content-disposition', `inline; filename="${req.params.name}"`).send(f.data);
    },
  );

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', { schema: { params: idParams } }, async (req, reply) => {
    const last = Number(req.headers['last-event-id'] ?? 0);
    const after = Number.isInteger(last) && last > 0 ? last : 0;
    const job = await backend.get(req.params.id);
    if (!job) throw notFound(req.params.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no', ...(o.corsOrigin ? { 'access-control-allow-origin': o.corsOrigin } : {}) });
    res.write(': eyecandy job events\n\n');
    streams.add(reply);
    let unsubscribe: (() => void) | undefined;
    const end = () => {
      clearInterval(beat);
      unsubscribe?.();
      streams.delete(reply);
      if (!res.writableEnded) res.end();
    };
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    let ended = false;
    const send = (e: StreamEvent) => {
      if (ended) return;
      res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      if (e.type === 'done') {
        ended = true;
        setImmediate(end);
      }
    };
    req.raw.on('close', end);
    unsubscribe = await backend.subscribe(req.params.id, after, send);
    if (!unsubscribe) end();
    else if (ended) unsubscribe();
  });

  const address = await app.listen({ host: o.host, port: o.port });
  if (o.preload) {
    // Warm: the model loaded and the classify network compiled before /readyz says ready.
    taskNetwork(o.model, { mirror: o.mirror, cacheDir: o.cacheDir }, { backend: o.backend, tf32: false, fcn: false }).then(
      ({ net }) => {
        watchNetwork(net);
        ready = true;
      },
      (err) => app.log.error(`eyecandy serve: cannot load the model '${o.model}': ${(err as Error).message}`),
    );
  }

  let closed: Promise<void> | undefined;
  return {
    app,
    url: address,
    backend,
    metrics,
    close() {
      closed ??= (async () => {
        closing = true;
        await backend.close(o.graceMs);
        for (const s of streams) if (!s.raw.writableEnded) s.raw.end();
        await app.close();
      })();
      return closed;
    },
  };
}
