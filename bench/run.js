#!/usr/bin/env node
// Runs every case in its own process, one after another on the same machine,
// and prints a table with eyecandy's time relative to each peer (ratio > 1:
// eyecandy is that many times faster).
const { execFileSync } = require('child_process');
const os = require('os');
const path = require('path');

const only = process.argv.slice(2);
const cases = ['eyecandy-vgg19', 'tfjs-vgg19', 'eyecandy-mobilenet', 'ort-mobilenet', 'eyecandy-tasks'].filter((c) => !only.length || only.some((o) => c.includes(o)));
const results = {};
for (const c of cases) {
  try {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'cases', `${c}.js`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    results[c] = JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    results[c] = { error: String(e.message).split('\n')[0] };
  }
}
const fmt = (v) => (typeof v === 'number' ? v.toFixed(1) : '-');
console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} threads, node ${process.version}`);
console.log('| case | load ms | load peak RSS MB | forward 224 ms | fwd+bwd 224 ms | conv fwd 512 ms | peak RSS MB |');
console.log('|---|---|---|---|---|---|---|');
for (const [c, r] of Object.entries(results)) {
  if (c === 'eyecandy-tasks') continue;
  if (r.error) console.log(`| ${c} | error: ${r.error} |`);
  else console.log(`| ${c} | ${fmt(r.loadMs)} | ${r.loadPeakRssMB ?? '-'} | ${fmt(r.forward224)} | ${fmt(r.forwardBackward224)} | ${fmt(r.convForward512)} | ${r.peakRssMB} |`);
}
const ratio = (a, b) => (results[a]?.forward224 && results[b]?.forward224 ? (results[b].forward224 / results[a].forward224).toFixed(1) : 'n/a');
console.log(`\nforward 224 speed-up, VGG19: eyecandy vs tfjs(cpu) = ${ratio('eyecandy-vgg19', 'tfjs-vgg19')}x`);
console.log(`forward 224 speed-up, MobileNet 0.25: eyecandy vs onnxruntime-node = ${ratio('eyecandy-mobilenet', 'ort-mobilenet')}x`);
const t = results['eyecandy-tasks'];
if (t && !t.error) {
  console.log('\n| VGG19 task step (CPU) | 256 px ms | 512 px ms |');
  console.log('|---|---|---|');
  console.log(`| style iteration (fwd to block5_conv1 + 6 losses + bwd) | ${fmt(t.styleIteration256)} | ${fmt(t.styleIteration512)} |`);
  console.log(`| dream step (fwd to block4_conv1 + bwd) | ${fmt(t.dreamStep256)} | ${fmt(t.dreamStep512)} |`);
} else if (t) console.log(`eyecandy-tasks: ${t.error}`);
