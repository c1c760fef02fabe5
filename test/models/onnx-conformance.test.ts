// ONNX conformance: the ONNX 1.12 node tests and PyTorch-converted layer
// tests from the shared data folder, loaded with loadOnnx and run on the CPU.
//
// Every case folder is either CLAIMED (its ops are in our set: outputs must
// match within 1e-4 relative) or SKIPPED with a reason. Inputs that an op needs
// as load-time constants (conv weights, shapes, pads, ...; see CONSTANT_INPUTS)
// are bound with fixedInputs; the others are fed at run time, rank-4 ones
// transposed NCHW -> NHWC on the way in and back on the way out.
import * as fs from 'fs';
import * as path from 'path';

import { Tensor } from '../../src/ts';
import { CONSTANT_INPUTS, decodeModel, loadOnnx, readOnnxTensor } from '../../src/ts/models/onnx';
import { asFloat32, ConstTensor, transposeConst } from '../../src/ts/models/onnx/tensor-data';

const SHARED = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const ROOT = path.join(SHARED, 'onnx-node-tests');
const SUITES = ['node', 'pytorch-converted'];

// Cases whose ops we convert, by op family.
const CLAIMED: Record<string, string[]> = {
  'Conv': [
    'node/test_basic_conv_with_padding', 'node/test_basic_conv_without_padding', 'node/test_conv_with_autopad_same',
    'node/test_conv_with_strides_and_asymmetric_padding', 'node/test_conv_with_strides_no_padding',
    'node/test_conv_with_strides_padding', 'pytorch-converted/test_Conv2d', 'pytorch-converted/test_Conv2d_depthwise',
    'pytorch-converted/test_Conv2d_depthwise_padded', 'pytorch-converted/test_Conv2d_depthwise_strided',
    'pytorch-converted/test_Conv2d_depthwise_with_multiplier', 'pytorch-converted/test_Conv2d_dilated',
    'pytorch-converted/test_Conv2d_groups', 'pytorch-converted/test_Conv2d_groups_thnn',
    'pytorch-converted/test_Conv2d_no_bias', 'pytorch-converted/test_Conv2d_padding',
    'pytorch-converted/test_Conv2d_strided',
  ],
  'MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool': [
    'node/test_averagepool_2d_ceil', 'node/test_averagepool_2d_default', 'node/test_averagepool_2d_pads',
    'node/test_averagepool_2d_pads_count_include_pad', 'node/test_averagepool_2d_precomputed_pads',
    'node/test_averagepool_2d_precomputed_pads_count_include_pad', 'node/test_averagepool_2d_precomputed_same_upper',
    'node/test_averagepool_2d_precomputed_strides', 'node/test_averagepool_2d_same_lower',
    'node/test_averagepool_2d_same_upper', 'node/test_averagepool_2d_strides', 'node/test_globalaveragepool',
    'node/test_globalaveragepool_precomputed', 'node/test_globalmaxpool', 'node/test_globalmaxpool_precomputed',
    'node/test_maxpool_2d_ceil', 'node/test_maxpool_2d_default', 'node/test_maxpool_2d_dilations',
    'node/test_maxpool_2d_pads', 'node/test_maxpool_2d_precomputed_pads',
    'node/test_maxpool_2d_precomputed_same_upper', 'node/test_maxpool_2d_precomputed_strides',
    'node/test_maxpool_2d_same_lower', 'node/test_maxpool_2d_same_upper', 'node/test_maxpool_2d_strides',
    'pytorch-converted/test_AvgPool2d', 'pytorch-converted/test_AvgPool2d_stride', 'pytorch-converted/test_MaxPool2d',
  ],
  'ReduceMean / ReduceSum / ReduceSumSquare': [
    'node/test_reduce_mean_default_axes_keepdims_example', 'node/test_reduce_mean_default_axes_keepdims_random',
    'node/test_reduce_mean_do_not_keepdims_example', 'node/test_reduce_mean_do_not_keepdims_random',
    'node/test_reduce_mean_keepdims_example', 'node/test_reduce_mean_keepdims_random',
    'node/test_reduce_mean_negative_axes_keepdims_example', 'node/test_reduce_mean_negative_axes_keepdims_random',
    'node/test_reduce_sum_default_axes_keepdims_example', 'node/test_reduce_sum_default_axes_keepdims_random',
    'node/test_reduce_sum_do_not_keepdims_example', 'node/test_reduce_sum_do_not_keepdims_random',
    'node/test_reduce_sum_keepdims_example', 'node/test_reduce_sum_keepdims_random',
    'node/test_reduce_sum_negative_axes_keepdims_example', 'node/test_reduce_sum_negative_axes_keepdims_random',
    'node/test_reduce_sum_square_default_axes_keepdims_example',
    'node/test_reduce_sum_square_default_axes_keepdims_random', 'node/test_reduce_sum_square_do_not_keepdims_example',
    'node/test_reduce_sum_square_do_not_keepdims_random', 'node/test_reduce_sum_square_keepdims_example',
    'node/test_reduce_sum_square_keepdims_random', 'node/test_reduce_sum_square_negative_axes_keepdims_example',
    'node/test_reduce_sum_square_negative_axes_keepdims_random', 'node/test_reshape_reduced_dims',
  ],
  'Resize (linear)': [
    'node/test_resize_upsample_scales_linear',
  ],
  'Relu / LeakyRelu / PRelu / Sigmoid / Tanh / Clip': [
    'node/test_clip', 'node/test_clip_default_inbounds', 'node/test_clip_default_max', 'node/test_clip_default_min',
    'node/test_clip_example', 'node/test_clip_inbounds', 'node/test_clip_outbounds', 'node/test_clip_splitbounds',
    'node/test_leakyrelu', 'node/test_leakyrelu_default', 'node/test_leakyrelu_example', 'node/test_prelu_broadcast',
    'node/test_prelu_example', 'node/test_relu', 'node/test_sigmoid', 'node/test_tanh',
    'pytorch-converted/test_LeakyReLU', 'pytorch-converted/test_LeakyReLU_with_negval',
    'pytorch-converted/test_PReLU_2d', 'pytorch-converted/test_PReLU_2d_multiparam', 'pytorch-converted/test_ReLU',
    'pytorch-converted/test_Sigmoid', 'pytorch-converted/test_Tanh',
  ],
  'Softmax / LogSoftmax': [
    'node/test_logsoftmax_axis_1', 'node/test_logsoftmax_default_axis', 'node/test_logsoftmax_example_1',
    'node/test_logsoftmax_large_number',
    'node/test_softmax_axis_0', 'node/test_softmax_axis_1', 'node/test_softmax_axis_2',
    'node/test_softmax_default_axis', 'node/test_softmax_example', 'node/test_softmax_large_number',
    'node/test_softmax_negative_axis', 'pytorch-converted/test_LogSoftmax', 'pytorch-converted/test_Softmax',
    'pytorch-converted/test_log_softmax_lastdim', 'pytorch-converted/test_softmax_lastdim',
  ],
  'BatchNormalization / LRN': [
    'node/test_batchnorm_epsilon', 'node/test_batchnorm_example', 'node/test_lrn', 'node/test_lrn_default',
    'pytorch-converted/test_BatchNorm2d_eval',
  ],
  'Gemm / MatMul': [
    'node/test_gemm_all_attributes', 'node/test_gemm_alpha', 'node/test_gemm_beta',
    'node/test_gemm_default_matrix_bias', 'node/test_gemm_default_no_bias', 'node/test_gemm_default_scalar_bias',
    'node/test_gemm_default_single_elem_vector_bias', 'node/test_gemm_default_vector_bias',
    'node/test_gemm_default_zero_bias', 'node/test_gemm_transposeA', 'node/test_gemm_transposeB',
    'node/test_matmul_2d', 'node/test_matmul_3d', 'node/test_matmul_4d', 'pytorch-converted/test_Linear',
    'pytorch-converted/test_Linear_no_bias',
  ],
  'Add / Sub / Mul / Div / Sum / Mean / Max / Neg / Abs': [
    'node/test_abs', 'node/test_add', 'node/test_add_bcast', 'node/test_div', 'node/test_div_bcast',
    'node/test_max_example', 'node/test_mean_example', 'node/test_mean_one_input', 'node/test_mean_two_inputs',
    'node/test_mul', 'node/test_mul_bcast', 'node/test_neg', 'node/test_sub', 'node/test_sub_bcast',
    'node/test_sum_example', 'node/test_sum_one_input', 'node/test_sum_two_inputs',
  ],
  'Concat / Flatten / Reshape / Squeeze / Unsqueeze / Transpose / Shape': [
    'node/test_concat_2d_axis_0', 'node/test_concat_2d_axis_1', 'node/test_concat_2d_axis_negative_1',
    'node/test_concat_2d_axis_negative_2', 'node/test_flatten_axis0', 'node/test_flatten_axis1',
    'node/test_flatten_axis2', 'node/test_flatten_axis3', 'node/test_flatten_default_axis',
    'node/test_flatten_negative_axis1', 'node/test_flatten_negative_axis2', 'node/test_flatten_negative_axis3',
    'node/test_flatten_negative_axis4', 'node/test_reshape_extended_dims', 'node/test_reshape_negative_dim',
    'node/test_reshape_negative_extended_dims', 'node/test_reshape_one_dim', 'node/test_reshape_reordered_all_dims',
    'node/test_reshape_reordered_last_dims', 'node/test_reshape_zero_and_negative_dim', 'node/test_reshape_zero_dim',
    'node/test_shape', 'node/test_shape_example', 'node/test_squeeze', 'node/test_squeeze_negative_axes',
    'node/test_transpose_all_permutations_0', 'node/test_transpose_all_permutations_1',
    'node/test_transpose_all_permutations_2', 'node/test_transpose_all_permutations_3',
    'node/test_transpose_all_permutations_4', 'node/test_transpose_all_permutations_5', 'node/test_transpose_default',
    'node/test_unsqueeze_axis_0', 'node/test_unsqueeze_axis_1', 'node/test_unsqueeze_axis_2',
    'node/test_unsqueeze_axis_3', 'node/test_unsqueeze_negative_axes', 'node/test_unsqueeze_three_axes',
    'node/test_unsqueeze_two_axes', 'node/test_unsqueeze_unsorted_axes', 'pytorch-converted/test_PixelShuffle',
  ],
  'Pad': [
    'node/test_constant_pad', 'node/test_edge_pad', 'node/test_reflect_pad', 'pytorch-converted/test_ConstantPad2d',
    'pytorch-converted/test_ReflectionPad2d', 'pytorch-converted/test_ZeroPad2d',
  ],
  'Dropout / Identity': [
    'node/test_dropout_default', 'node/test_dropout_default_old', 'node/test_dropout_default_ratio',
    'node/test_identity',
  ],
};

const CONV_TRANSPOSE = 'ConvTranspose is not in the op set';
const NEAREST = 'nearest resize is not supported (bilinear only)';
const SKIPPED: Record<string, string> = {
  'node/test_convtranspose': CONV_TRANSPOSE,
  'node/test_convtranspose_autopad_same': CONV_TRANSPOSE,
  'node/test_convtranspose_dilations': CONV_TRANSPOSE,
  'node/test_convtranspose_kernel_shape': CONV_TRANSPOSE,
  'node/test_convtranspose_output_shape': CONV_TRANSPOSE,
  'node/test_convtranspose_pad': CONV_TRANSPOSE,
  'node/test_convtranspose_pads': CONV_TRANSPOSE,
  'node/test_convtranspose_with_kernel': CONV_TRANSPOSE,
  'pytorch-converted/test_ConvTranspose2d': CONV_TRANSPOSE,
  'pytorch-converted/test_ConvTranspose2d_no_bias': CONV_TRANSPOSE,
  'node/test_resize_downsample_scales_nearest': NEAREST,
  'node/test_resize_downsample_sizes_nearest': NEAREST,
  'node/test_resize_upsample_scales_nearest': NEAREST,
  'node/test_resize_upsample_sizes_nearest': NEAREST,
  'node/test_upsample_nearest': NEAREST,
  'node/test_resize_downsample_scales_linear':
    'scale 0.6 on 2x4 gives a fractional output size; ONNX samples by the scale, our bilinear resize by output/input size',
  'node/test_exp': 'Exp is not in the op set',
  'node/test_sqrt': 'Sqrt is not in the op set',
  'node/test_pow': 'Pow of two computed values is not in the op set',
  'node/test_instancenorm_epsilon': 'InstanceNormalization is not in the op set',
  'node/test_instancenorm_example': 'InstanceNormalization is not in the op set',
  'node/test_reshape_allowzero_reordered': 'Reshape allowzero=1 with a 0 (empty dimension) is not supported',
};

const claimedNames = Object.values(CLAIMED).flat();

function caseFolders(): string[] {
  return SUITES.flatMap((s) =>
    fs
      .readdirSync(path.join(ROOT, s))
      .filter((d) => fs.existsSync(path.join(ROOT, s, d, 'model.onnx')))
      .map((d) => `${s}/${d}`),
  ).sort();
}

test('every case folder is claimed or skipped with a reason', () => {
  const folders = caseFolders();
  expect(folders.length).toBe(220);
  const unaccounted = folders.filter((f) => !claimedNames.includes(f) && !SKIPPED[f]);
  expect(unaccounted).toEqual([]);
  expect(claimedNames.filter((c) => SKIPPED[c])).toEqual([]);
  expect([...claimedNames, ...Object.keys(SKIPPED)].filter((c) => !folders.includes(c))).toEqual([]);
  expect(new Set(claimedNames).size).toBe(claimedNames.length);
  Object.values(SKIPPED).forEach((why) => expect(why.length).toBeGreaterThan(10));
});

test('skipped cases fail to load with a clear error, except the kernel mismatch', async () => {
  for (const [name, why] of Object.entries(SKIPPED)) {
    if (why.startsWith('kernel mismatch')) continue;
    await expect(loadOnnx(path.join(ROOT, name, 'model.onnx'))).rejects.toThrow(/^onnx: /);
  }
});

/** |got - want| <= 1e-4 * max(1, |want|) everywhere; returns the first offender. */
function compare(got: ConstTensor, want: ConstTensor): string {
  if (got.dims.join(',') !== want.dims.join(',')) return `shape [${got.dims}] vs [${want.dims}]`;
  for (let i = 0; i < want.data.length; ++i) {
    const [g, w] = [got.data[i], want.data[i]];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!(Math.abs(g - w) <= 1e-4 * Math.max(1, Math.abs(w)))) return `[${i}] ${g} vs ${w}`;
  }
  return 'ok';
}

async function runCase(name: string): Promise<string[]> {
  const dir = path.join(ROOT, name);
  const data = path.join(dir, 'test_data_set_0');
  const proto = decodeModel(fs.readFileSync(path.join(dir, 'model.onnx')), name);
  const graph = proto.graph!;
  const inits = new Set(graph.initializer.map((t) => t.name));
  // input_N.pb feed the graph inputs that have no initializer, in order.
  const values: Record<string, ConstTensor> = {};
  const fedNames = graph.input.map((v) => v.name).filter((n) => !inits.has(n));
  for (const [i, n] of fedNames.entries()) values[n] = await readOnnxTensor(path.join(data, `input_${i}.pb`));
  const fixedInputs: Record<string, ConstTensor> = {};
  for (const node of graph.node)
    for (const slot of CONSTANT_INPUTS[node.opType] ?? []) {
      const n = node.input[slot];
      if (n && values[n]) fixedInputs[n] = values[n];
    }
  const model = await loadOnnx(path.join(dir, 'model.onnx'), { fixedInputs });
  const net = model.graph.compile({ backend: 'cpu' });
  try {
    const feeds: Record<string, Tensor> = {};
    for (const io of model.inputs) {
      const v = io.layout === 'nhwc' ? transposeConst(values[io.name], [0, 2, 3, 1]) : values[io.name];
      feeds[io.node] = Tensor.from(asFloat32(v), v.dims);
    }
    const out = await net.forward(feeds, { taps: model.outputs.map((o) => o.node) });
    const results: string[] = [];
    for (const [k, o] of model.outputs.entries()) {
      const t = out[o.node];
      let got: ConstTensor = { dims: t.shape, data: t.data() };
      if (o.layout === 'nhwc') got = transposeConst(got, [0, 3, 1, 2]);
      results.push(`${o.name}: ${compare(got, await readOnnxTensor(path.join(data, `output_${k}.pb`)))}`);
    }
    return results;
  } finally {
    net.dispose();
  }
}

describe.each(Object.entries(CLAIMED))('%s', (_group, names) => {
  test.each(names)('%s', async (name) => {
    const results = await runCase(name);
    expect(results.length).toBeGreaterThan(0);
    results.forEach((r) => expect(r).toMatch(/: ok$/));
  });
});
