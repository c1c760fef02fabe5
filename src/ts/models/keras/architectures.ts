// Keras model configs of the networks the zoo names, for weight files that
// carry no architecture (keras-applications' *_weights_tf_dim_ordering_tf_kernels.h5).

type Layer = { class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[] };

function layer(cls: string, name: string, config: Record<string, unknown>, from?: string): Layer {
  return { class_name: cls, config: { name, ...config }, inbound_nodes: from ? [[[from, 0, 0, {}]]] : [] };
}

/** The Keras VGG16 / VGG19 (ImageNet, with the 1000-class top) as a functional model config. */
export function vggConfig(depth: 16 | 19): { class_name: string; config: { layers: Layer[] } } {
  const convs = depth === 16 ? [2, 2, 3, 3, 3] : [2, 2, 4, 4, 4];
  const widths = [64, 128, 256, 512, 512];
  const layers: Layer[] = [layer('InputLayer', 'input_1', { batch_input_shape: [null, 224, 224, 3] })];
  let prev = 'input_1';
  convs.forEach((n, b) => {
    for (let i = 1; i <= n; ++i) {
      const name = `block${b + 1}_conv${i}`;
      layers.push(layer('Conv2D', name, { filters: widths[b], kernel_size: [3, 3], padding: 'same', activation: 'relu' }, prev));
      prev = name;
    }
    const pool = `block${b + 1}_pool`;
    layers.push(layer('MaxPooling2D', pool, { pool_size: [2, 2], strides: [2, 2], padding: 'valid' }, prev));
    prev = pool;
  });
  layers.push(layer('Flatten', 'flatten', {}, prev));
  layers.push(layer('Dense', 'fc1', { units: 4096, activation: 'relu' }, 'flatten'));
  layers.push(layer('Dense', 'fc2', { units: 4096, activation: 'relu' }, 'fc1'));
  layers.push(layer('Dense', 'predictions', { units: 1000, activation: 'softmax' }, 'fc2'));
  return { class_name: 'Model', config: { layers } };
}

/** The weights each Keras layer class holds, in the order Keras saves them. */
export function weightRoles(className: string, config: Record<string, unknown>): string[] {
  switch (className) {
    case 'Conv2D':
    case 'Dense':
      return config.use_bias === false ? ['kernel'] : ['kernel', 'bias'];
    case 'DepthwiseConv2D':
      return config.use_bias === false ? ['depthwise_kernel'] : ['depthwise_kernel', 'bias'];
    case 'BatchNormalization':
      return [
        ...(config.scale === false ? [] : ['gamma']),
        ...(config.center === false ? [] : ['beta']),
        'moving_mean',
        'moving_variance',
      ];
    default:
      return [];
  }
}
