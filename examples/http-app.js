#!/usr/bin/env node
// A plain node:http server that embeds eyecandy: POST an image, get its classes as JSON.
//
//   node examples/http-app.js                    # listens on 127.0.0.1:8080 (PORT=0: any free port)
//   curl --data-binary @cat.jpg http://127.0.0.1:8080/classify?top=3
//
// The model is loaded once at start and shared by every request; requests run concurrently
// (a Network queues its calls, so they need no lock). Bad input is a 4xx with a JSON error and
// the server stays up. MODEL picks the network (default vgg19-uint8); models come from the zoo,
// or from EYECANDY_MIRROR / EYECANDY_CACHE when set.
'use strict';
const http = require('node:http');
const { classify, loadModel } = require('eyecandy');

const PORT = Number(process.env.PORT ?? 8080);
const HOST = process.env.HOST ?? '127.0.0.1';
const MAX_BYTES = 20 * 1024 * 1024;

function send(res, status, body) {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body, refusing more than MAX_BYTES. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BYTES) {
        reject(Object.assign(new Error(`the image is larger than ${MAX_BYTES} bytes`), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function main() {
  const model = await loadModel(process.env.MODEL ?? 'vgg19-uint8');
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, { ok: true, model: model.name });
    if (url.pathname !== '/classify') return send(res, 404, { error: `no such path '${url.pathname}'; POST an image to /classify` });
    if (req.method !== 'POST') return send(res, 405, { error: 'POST the image bytes to /classify' });
    try {
      const top = Number(url.searchParams.get('top') ?? 5);
      const body = await readBody(req);
      if (!body.length) return send(res, 400, { error: 'the request body is empty; send the image bytes' });
      const started = Date.now();
      const r = await classify(body, { model, topK: top });
      send(res, 200, { model: r.model, inputSize: r.inputSize, ms: Date.now() - started, classes: r.classes });
    } catch (err) {
      // eyecandy's errors name the bad value (an undecodable image, a topK out of range).
      send(res, err.status ?? 400, { error: err.message });
    }
  });
  server.listen(PORT, HOST, () => {
    const { address, port } = server.address();
    console.log(`listening on http://${address}:${port} (model ${model.name})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(`http-app: ${err.message}`);
  process.exit(1);
});
