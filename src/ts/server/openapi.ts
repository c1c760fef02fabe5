// The OpenAPI 3.1 document served at /openapi.json.
import { ALLOWED, TASKS } from './tasks';

const error = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { description: 'error', content: { 'application/json': { schema: error } } }]));
const jobId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const upload = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: {
          image: { type: 'string', format: 'binary', description: 'JPEG, PNG, WebP, GIF, TIFF or BMP' },
          style: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'style task: one or more style images' },
          task: { type: 'string', enum: [...TASKS] },
          options: {
            type: 'string',
            description: `JSON object of the task's options: ${Object.entries(ALLOWED).map(([t, l]) => `${t}: ${l.join(', ')}`).join('; ')}. Model, backend and paths are the server's.`,
          },
        },
      },
    },
  },
};

export function openApi(): object {
  return {
    openapi: '3.1.0',
    info: { title: 'eyecandy server', version: '1', description: 'Classify, locate, Deep Dream and style transfer on pretrained CNNs.' },
    paths: {
      '/v1/classify': { post: { summary: 'Classify one image now (batched with concurrent calls)', requestBody: upload, responses: { '200': { description: 'classes' }, ...errors(400, 401, 413, 415, 429, 503) } } },
      '/v1/jobs': {
        post: {
          summary: 'Submit a job',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } }],
          requestBody: upload,
          responses: { '202': { description: 'queued', content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } } }, '200': { description: 'the job already submitted with this Idempotency-Key' }, ...errors(400, 401, 409, 413, 415, 429, 503) },
        },
      },
      '/v1/jobs/{id}': {
        get: { summary: 'State, progress, timings and result links', parameters: [jobId], responses: { '200': { description: 'job', content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } } }, ...errors(404) } },
        delete: { summary: 'Cancel (a running job is aborted between steps)', parameters: [jobId], responses: { '200': { description: 'job' }, ...errors(404) } },
      },
      '/v1/jobs/{id}/events': {
        get: { summary: 'Server-Sent Events: state, progress, image (data URLs), then done', parameters: [jobId, { name: 'Last-Event-ID', in: 'header', schema: { type: 'integer' } }], responses: { '200': { description: 'text/event-stream' }, ...errors(404) } },
      },
      '/v1/jobs/{id}/result': { get: { summary: 'The result JSON and file links', parameters: [jobId], responses: { '200': { description: 'result' }, ...errors(404, 409) } } },
      '/v1/jobs/{id}/result/{name}': { get: { summary: 'A result file (PNG, HTML report, JSON)', parameters: [jobId, { name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'file' }, ...errors(404) } } },
      '/healthz': { get: { summary: 'Alive', responses: { '200': { description: 'ok' } } } },
      '/readyz': { get: { summary: 'Model loaded and queue not full', responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } } } },
      '/metrics': { get: { summary: 'Prometheus text', responses: { '200': { description: 'metrics' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['status', 'code', 'message'], properties: { status: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } } } },
        },
        Job: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            task: { type: 'string', enum: [...TASKS] },
            state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
            progress: { type: ['object', 'null'] },
            createdAt: { type: 'string' },
            startedAt: { type: ['string', 'null'] },
            finishedAt: { type: ['string', 'null'] },
            timings: { type: 'object', properties: { waitMs: { type: ['integer', 'null'] }, runMs: { type: ['integer', 'null'] } } },
            error: { type: ['object', 'null'] },
            files: { type: 'array', items: { type: 'string' } },
            expiresAt: { type: ['string', 'null'] },
            links: { type: 'object' },
          },
        },
      },
    },
  };
}
