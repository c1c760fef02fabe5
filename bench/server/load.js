#!/usr/bin/env node
// A bounded loopback load test of POST /v1/classify (224 px, fixed size) with dynamic batching
// off (--max-batch 1) and on (--max-batch 8, 5 ms), alternating, at concurrency 1, 4 and 16;
// then the reason in numbers: per-image forward time at batch 1, 4 and 8.
//   npm run build:ts && node bench/server/load.js [--requests-per-client N] [--model vgg19-uint8]
// Reads the model from ../shared (or $EYECANDY_SHARED) as a mirror.
const fs = require('fs');
const os = require('os');
const path = require('path');
const autocannon = require('autocannon');

const root = path.resolve(__dirname, '../..');
const { startServer } = require(path.join(root, 'dist/server/app'));
const { taskNetwork } = require(path.join(root, 'dist/tasks/runtime'));
const { Tensor, tidy } = require(path.join(root, 'dist/tensor'));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const shared = process.env.EYECANDY_SHARED ?? path.resolve(root, '../shared');
const model = arg('model', 'vgg19-uint8');
const perClient = Number(arg('requests-per-client', 3));
const load = { mirror: shared, cacheDir: path.join(os.tmpdir(), 'eyecandy-bench-server-cache') };
const image = fs.readFileSync(path.join(shared, 'images/photos/cat_dog.jpg'));

const boundary = '----eyecandybench';
const body = Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="cat_dog.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
  image,
  Buffer.from(`\r\n--${boundary}--\r\n`),
]);

async function run(url, connections) {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const rssBefore = process.memoryUsage().rss;
  const r = await autocannon({
    url: `${url}/v1/classify`,
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
    connections,
    amount: Math.max(4, connections * perClient),
    timeout: 120,
  });
  clearInterval(sampler);
  return {
    rps: r.requests.total / (r.duration || 1),
    done: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    rssBefore: rssBefore / 2 ** 20,
    rssPeak: peak / 2 ** 20,
    rssAfter: process.memoryUsage().rss / 2 ** 20,
  };
}

async function forwardPerImage(batch, reps = 3) {
  const { net, model: m } = await taskNetwork(model, load, { backend: 'cpu', tf32: false, fcn: false });
  const [h, w] = m.inputSize;
  const x = new Float32Array(batch * h * w * 3).map(() => Math.random() * 100);
  const times = [];
  for (let i = 0; i < reps; ++i) {
    const t = process.hrtime.bigint();
    await tidy(async () => {
      const out = await net.forward(Tensor.from(x, [batch, h, w, 3]));
      Object.values(out)[0].data();
    });
    times.push(Number(process.hrtime.bigint() - t) / 1e6 / batch);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

(async () => {
  const common = { model, ...load, port: 0, logger: false };
  const off = await startServer({ ...common, batch: { maxBatch: 1, maxDelayMs: 0, capacity: 64 } });
  const on = await startServer({ ...common, batch: { maxBatch: 8, maxDelayMs: 5, capacity: 64 } });
  for (const s of [off, on]) while ((await fetch(`${s.url}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 200));
  await run(off.url, 1); // warm-up
  console.log(`model ${model}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  console.log('| concurrency | batching | requests | req/s | p50 ms | p99 ms | errors | RSS MB before / peak / after |');
  console.log('|---|---|---|---|---|---|---|---|');
  const ratios = [];
  for (const c of [1, 4, 16]) {
    const r = {};
    for (const [name, s] of [['off', off], ['on', on]]) {
      r[name] = await run(s.url, c);
      const x = r[name];
      console.log(`| ${c} | ${name} | ${x.done} | ${x.rps.toFixed(2)} | ${x.p50.toFixed(0)} | ${x.p99.toFixed(0)} | ${x.errors} | ${x.rssBefore.toFixed(0)} / ${x.rssPeak.toFixed(0)} / ${x.rssAfter.toFixed(0)} |`);
    }
    ratios.push(`c=${c}: ${(r.on.rps / r.off.rps).toFixed(2)}x`);
  }
  console.log(`throughput with batching / without: ${ratios.join(', ')}`);
  const metrics = await (await fetch(`${on.url}/metrics`)).text();
  const sum = Number(/eyecandy_batch_size_sum (\S+)/.exec(metrics)[1]);
  const count = Number(/eyecandy_batch_size_count (\S+)/.exec(metrics)[1]);
  console.log(`batching on: ${count} forwards for ${sum} images (mean batch ${(sum / count).toFixed(2)})`);
  await off.close();
  await on.close();
  const per = {};
  for (const b of [1, 4, 8]) per[b] = await forwardPerImage(b);
  console.log(`forward per image (median of 3): batch 1 ${per[1].toFixed(0)} ms, batch 4 ${per[4].toFixed(0)} ms, batch 8 ${per[8].toFixed(0)} ms; load average ${os.loadavg()[0].toFixed(2)}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
