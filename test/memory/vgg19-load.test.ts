// Loading the real VGG19 (TF.js, uint8 weights, from ../shared) holds its weights once: the
// process's peak resident memory rises by at most 1.15x the float32 weights, with no forced GC.
// Runs the built package (dist/) in a child process, so the peak is this load's alone.
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';

import { SHARED } from '../reference';

const run = promisify(execFile);
const PARAMS = 143_667_240; // DATA.md: VGG19 with the ImageNet top
const dist = path.resolve(__dirname, '../../dist');

test('VGG19 (uint8 TF.js) loads and compiles at <= 1.15x its float weights above the starting RSS', async () => {
  const script = `
    const { loadTfjs } = require(${JSON.stringify(path.join(dist, 'models/tfjs'))});
    require(${JSON.stringify(path.join(dist, 'native'))}).addon();
    const start = process.memoryUsage.rss();
    loadTfjs(${JSON.stringify(path.join(SHARED, 'models/vgg19-tfjs-uint8/model.json'))}).then((m) => {
      const net = m.graph.compile();
      // VmHWM, not getrusage's maxRSS: that starts at the RSS of the (large) test process that spawned this one.
      const peak = Number(/^VmHWM:\\s+(\\d+) kB/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      process.stdout.write(JSON.stringify({ start, peak, weights: net.memory().weights, gc: typeof gc }));
    });`;
  const { stdout } = await run(process.execPath, ['-e', script], { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout);
  expect(r.gc).toBe('undefined');
  expect(r.weights).toBe(PARAMS * 4); // every parameter once, as float32
  const ratio = (r.peak - r.start) / (PARAMS * 4);
  expect(ratio).toBeGreaterThan(0.9); // the weights are resident (the measure sees them)
  expect(ratio).toBeLessThanOrEqual(1.15);
}, 120000);
