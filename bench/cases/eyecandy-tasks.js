// eyecandy: the inner step of the generative tasks on VGG19 (CPU), at 256 and 512 px:
// - style iteration: forward to block5_conv1 with Gram taps at five layers and the content
//   layer, then backward to the image (what one L-BFGS evaluation costs);
// - dream step: forward to block4_conv1, backward of its sum of squares to the image.
const path = require('path');
const { shared, time, median, report } = require('./common');
const { Tensor } = require('../../dist');
const { loadTfjs } = require('../../dist/models/tfjs');
const { featureGraph } = require('../../dist/nn/rewrites/features');

const STYLE = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

(async () => {
  const model = await loadTfjs(path.join(shared, 'models/vgg19-tfjs-uint8/model.json'));
  const out = { case: 'eyecandy-tasks' };
  for (const size of [256, 512]) {
    const g = featureGraph(model);
    const seeds = {};
    for (const l of STYLE) {
      g.gram(`${l}/gram`, l);
      g.sumSquares(`${l}/loss`, `${l}/gram`); // stands in for the MSE against a target: same shapes, same work
      seeds[`${l}/loss`] = 1;
    }
    g.sumSquares('content/loss', 'block4_conv2');
    seeds['content/loss'] = 1;
    g.sumSquares('dream/loss', 'block4_conv1');
    const net = g.compile();
    const x = Tensor.from(new Float32Array(size * size * 3).map((_, i) => (i % 255) - 120), [1, size, size, 3]);
    out[`styleIteration${size}`] = median(
      await time(async () => {
        await net.forward(x, { taps: Object.keys(seeds), grad: true });
        await net.backward(seeds);
      }, 3),
    );
    out[`dreamStep${size}`] = median(
      await time(async () => {
        await net.forward(x, { taps: ['dream/loss'], grad: true });
        await net.backward({ 'dream/loss': 1 });
      }, 3),
    );
    net.dispose();
  }
  report(out);
})();
