// Property tests for the tasks' option checks: objects built from each task's
// option names with values of any kind (numbers at and past the edges, NaN,
// strings, arrays, nested objects, null) either pass the check or fail with a
// plain Error whose message starts with the task's name: never a TypeError or
// RangeError from code that trusted an option's type. Fixed seeds.
import fc from 'fast-check';

import { checkClassifyOptions } from '../../src/ts/tasks/classify';
import { checkDreamOptions } from '../../src/ts/tasks/dream/options';
import { checkOptions as checkLocateOptions } from '../../src/ts/tasks/locate';
import { checkStyleOptions } from '../../src/ts/tasks/style/options';

const RUNS = Number(process.env.EYECANDY_PROPERTY_RUNS ?? 300);
const COMMON = ['backend', 'model', 'signal', 'load', 'onProgress', 'onDownload', 'seed'];

/** Values an option may be given by mistake, and plausible ones. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -5, max: 5000 }),
  fc.double(),
  fc.constantFrom(0, -1, 1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, -0),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('cpu', 'cuda', 'adam', 'lbfgs', 'noise', 'content', 'mse', 'rms', 'window_union', 'block5_conv1', 'vgg19'),
  fc.boolean(),
  fc.constantFrom(null, undefined),
  fc.array(fc.oneof(fc.integer({ min: -2, max: 600 }), fc.string({ maxLength: 8 }), fc.double()), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.array(fc.integer({ min: -1, max: 70000 }), { maxLength: 3 })), { maxKeys: 3 }),
  fc.constant(() => undefined),
);

function optionsOf(names: string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.dictionary(fc.constantFrom(...names, ...COMMON), value, { maxKeys: 6 });
}

function cleanly(who: string, run: () => unknown): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error || !err.message.startsWith(`${who}:`))
      throw new Error(`not a clean error: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack}`);
  }
}

const run = (prop: fc.IPropertyWithHooks<[Record<string, unknown>]> | fc.IProperty<[Record<string, unknown>]>, seed: number) =>
  fc.assert(prop, { numRuns: RUNS, seed });

describe('option checks: any option object passes or fails with a clean error', () => {
  test('classify', () => {
    run(fc.property(optionsOf(['topK', 'anySize', 'size', 'pooling', 'labels', 'classes']), (o) => cleanly('classify', () => checkClassifyOptions(o))), 141);
  });

  test('locate', () => {
    const names = ['topK', 'components', 'topN', 'size', 'blurSigma', 'maskThreshold', 'saliency', 'sideView', 'pooling', 'labels', 'taps', 'tap'];
    run(fc.property(optionsOf(names), (o) => cleanly('locate', () => checkLocateOptions(o))), 142);
  });

  test('dream', () => {
    const names = ['layers', 'channels', 'classIndex', 'objective', 'octaves', 'octaveScale', 'steps', 'stepSize', 'jitter', 'tileSize', 'tileMargin', 'progressImages', 'width', 'height'];
    run(fc.property(optionsOf(names), (o) => cleanly('dream', () => checkDreamOptions(o))), 143);
  });

  test('style', () => {
    const names = ['size', 'scales', 'iterations', 'contentLayers', 'styleLayers', 'styleLayerWeights', 'contentWeight', 'styleWeight', 'tvWeight', 'contentLoss', 'styleLoss', 'optimizer', 'learningRate', 'init', 'preserveColors', 'styleScale', 'progressImages'];
    const styles = fc.oneof(fc.constant('style.png'), fc.array(fc.oneof(fc.constant('a.png'), fc.record({ image: fc.constant('b.png'), weight: value })), { maxLength: 3 }), value);
    run(fc.property(optionsOf(names), styles, (o, s) => cleanly('style', () => checkStyleOptions('content.png', s, o))) as never, 144);
  });
});
