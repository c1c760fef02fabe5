// Writes VGG16 / VGG19 as ONNX files with seeded random weights (He-scaled, so
// activations keep their magnitude), NCHW input of any height and width:
// - 'convs': the convolutional stack (3x3 convs with bias and ReLU, 2x2
//   max-pools between the blocks, no pool after the last block);
// - 'full': the whole classifier made fully convolutional as eyecandy runs it
//   (pool5, fc6 as a 7x7 VALID convolution, fc7 and fc8 as 1x1 convolutions,
//   logits out): 1x1x1000 at 224 px, a class map at larger sizes;
// - 'style': the stack up to block5_conv1 (what a style iteration reads).
// The same weights are returned for peers that cannot read ONNX (TF.js builds
// the same network). Also: a Gram-matrix graph for onnxruntime (Reshape,
// Transpose, MatMul, Div), alone or on top of the style stack.
const fs = require('fs');

const BLOCKS = {
  vgg16: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
  vgg19: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
};

// --- protobuf wire format: just what ModelProto needs ---
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint(field * 8 + wire);
const vfield = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bfield = (field, bytes) => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes);
  return Buffer.concat([key(field, 2), varint(b.length), b]);
};
const msg = (field, parts) => bfield(field, Buffer.concat(parts));

// AttributeProto: name 1, i 3, ints 8, type 20 (INT 2, INTS 7).
const attrInts = (name, ints) => msg(5, [bfield(1, name), ...ints.map((v) => vfield(8, v)), vfield(20, 7)]);
const attrInt = (name, v) => msg(5, [bfield(1, name), vfield(3, v), vfield(20, 2)]);
// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 (as GraphProto.node = 1).
const node = (op, name, inputs, outputs, attrs = []) =>
  msg(1, [...inputs.map((i) => bfield(1, i)), ...outputs.map((o) => bfield(2, o)), bfield(3, name), bfield(4, op), ...attrs]);
// TensorProto: dims 1, data_type 2 (FLOAT 1), name 8, raw_data 9 (as GraphProto.initializer = 5).
const initializer = (name, dims, data) => msg(5, [...dims.map((d) => vfield(1, d)), vfield(2, 1), bfield(8, name), bfield(9, data)]);
// INT64 (data_type 7), e.g. a Reshape's target shape.
const int64Initializer = (name, values) => {
  const raw = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), 8 * i));
  return msg(5, [vfield(1, values.length), vfield(2, 7), bfield(8, name), bfield(9, raw)]);
};
// ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1, shape 2 -> dim 1 -> dim_value 1 | dim_param 2.
const valueInfo = (field, name, dims) =>
  msg(field, [
    bfield(1, name),
    msg(2, [msg(1, [vfield(1, 1), msg(2, dims.map((d) => msg(1, [typeof d === 'number' ? vfield(1, d) : bfield(2, d)])))])]),
  ]);

// mulberry32: a small seeded generator, so every run writes the same weights.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The layer list and weights: [{name, cin, cout, k, pad, relu, w (OIHW Float32Array), b, poolAfter}].
 * variant 'convs' | 'full' | 'style' (see above); the layers they share have the same weights.
 */
function vggLayers(arch, variant = 'convs', seed = 1) {
  const blocks = BLOCKS[arch];
  if (!blocks) throw new Error(`vgg-onnx: unknown architecture '${arch}' (expected vgg16 or vgg19)`);
  if (!['convs', 'full', 'style'].includes(variant)) throw new Error(`vgg-onnx: unknown variant '${variant}' (expected convs, full or style)`);
  const rand = rng(seed);
  const layers = [];
  const add = (name, cin, cout, k, pad, relu) => {
    const w = new Float32Array(cout * cin * k * k);
    const s = Math.sqrt(6 / (k * k * cin));
    for (let i = 0; i < w.length; ++i) w[i] = (rand() * 2 - 1) * s;
    const b = new Float32Array(cout);
    for (let i = 0; i < cout; ++i) b[i] = (rand() * 2 - 1) * 0.05;
    const l = { name, cin, cout, k, pad, relu, w, b, poolAfter: false };
    layers.push(l);
    return l;
  };
  let cin = 3;
  for (let bi = 0; bi < blocks.length; ++bi)
    for (let ci = 0; ci < blocks[bi].length; ++ci) {
      const l = add(`block${bi + 1}_conv${ci + 1}`, cin, blocks[bi][ci], 3, 1, true);
      l.poolAfter = ci === blocks[bi].length - 1 && (bi < blocks.length - 1 || variant === 'full');
      cin = l.cout;
      if (variant === 'style' && l.name === 'block5_conv1') return layers;
    }
  if (variant === 'full') {
    add('fc6', 512, 4096, 7, 0, true);
    add('fc7', 4096, 4096, 1, 0, true);
    add('fc8', 4096, 1000, 1, 0, false);
  }
  return layers;
}

/** The convolutional stack (kept for callers of the first version). */
const vggConvStack = (arch, seed = 1) => vggLayers(arch, 'convs', seed);

/** Output height and width of each layer at input h x w: [{name, h, w, c}] (after its pool, if any: `pooled`). */
function vggShapes(layers, h, w) {
  const out = [];
  for (const l of layers) {
    h = h + 2 * l.pad - l.k + 1;
    w = w + 2 * l.pad - l.k + 1;
    if (h < 1 || w < 1) throw new Error(`vgg-onnx: the input is too small for ${l.name} (${l.k}x${l.k} kernel)`);
    out.push({ name: l.name, h, w, c: l.cout });
    if (l.poolAfter) (h = Math.floor(h / 2)), (w = Math.floor(w / 2));
  }
  return out;
}

/** Forward multiply-adds x 2 at height h, width w (batch 1). */
function vggFlops(layers, h, w) {
  const shapes = vggShapes(layers, h, w);
  return layers.reduce((f, l, i) => f + 2 * shapes[i].h * shapes[i].w * l.k * l.k * l.cin * l.cout, 0);
}

/** The ONNX name of layer `l`'s output (after its ReLU). */
const outName = (l) => (l.relu ? `${l.name}_out` : `${l.name}_conv`);

function vggNodes(layers, nodes, inits) {
  let cur = 'input';
  for (const l of layers) {
    inits.push(initializer(`${l.name}_W`, [l.cout, l.cin, l.k, l.k], l.w), initializer(`${l.name}_B`, [l.cout], l.b));
    const p = l.pad;
    nodes.push(node('Conv', l.name, [cur, `${l.name}_W`, `${l.name}_B`], [`${l.name}_conv`], [attrInts('kernel_shape', [l.k, l.k]), attrInts('pads', [p, p, p, p]), attrInts('strides', [1, 1])]));
    if (l.relu) nodes.push(node('Relu', `${l.name}_relu`, [`${l.name}_conv`], [outName(l)]));
    cur = outName(l);
    if (l.poolAfter) {
      const pool = l.name.replace(/_conv\d+$/, '_pool');
      nodes.push(node('MaxPool', pool, [cur], [pool], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]));
      cur = pool;
    }
  }
  return cur;
}

// Gram matrix of `x` [N, C, H, W] per image, averaged over the h*w pixels: [N, C, C].
function gramNodes(x, hw, nodes, inits) {
  if (!inits.some((b) => b.__gramShape)) {
    const shape = int64Initializer('gram_shape', [0, 0, -1]);
    shape.__gramShape = true;
    inits.push(shape);
  }
  const scale = `${x}_gram_scale`;
  inits.push(initializer(scale, [], new Float32Array([1 / hw])));
  nodes.push(node('Reshape', `${x}_flat`, [x, 'gram_shape'], [`${x}_flat`]));
  nodes.push(node('Transpose', `${x}_flat_t`, [`${x}_flat`], [`${x}_flat_t`], [attrInts('perm', [0, 2, 1])]));
  nodes.push(node('MatMul', `${x}_gram_sum`, [`${x}_flat`, `${x}_flat_t`], [`${x}_gram_sum`]));
  nodes.push(node('Mul', `${x}_gram`, [`${x}_gram_sum`, scale], [`${x}_gram`]));
  return `${x}_gram`;
}

function writeModel(file, name, nodes, inits, inputs, outputs) {
  const graph = Buffer.concat([...nodes, bfield(2, name), ...inits, ...inputs.map(([n, d]) => valueInfo(11, n, d)), ...outputs.map(([n, d]) => valueInfo(12, n, d))]);
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2).
  const model = Buffer.concat([vfield(1, 7), bfield(2, 'eyecandy-bench'), msg(7, [graph]), msg(8, [bfield(1, ''), vfield(2, 13)])]);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, model);
  fs.renameSync(tmp, file); // a cache: a reader never sees half a file
}

/**
 * Writes (or, when `file` exists, reuses: the weights are seeded) the network as ONNX, with
 * the outputs of the `extraOutputs` layers as graph outputs too (before the last layer's).
 * Returns {file, layers, output, outputs: {layerName: onnxName}}. variant: 'convs' | 'full' | 'style'.
 */
function writeVggOnnx(file, arch, seed = 1, variant = 'convs', extraOutputs = []) {
  const layers = vggLayers(arch, variant, seed);
  const output = outName(layers[layers.length - 1]);
  const outputs = {};
  for (const name of extraOutputs) {
    const l = layers.find((v) => v.name === name);
    if (!l) throw new Error(`vgg-onnx: no layer '${name}' in ${arch} ${variant}`);
    outputs[name] = outName(l);
  }
  if (!fs.existsSync(file)) {
    const nodes = [];
    const inits = [];
    const cur = vggNodes(layers, nodes, inits);
    const info = (l) => [outName(l), ['batch', l.cout, `${l.name}_h`, `${l.name}_w`]];
    const extra = layers.filter((l) => extraOutputs.includes(l.name) && outName(l) !== cur).map(info);
    const last = layers[layers.length - 1];
    writeModel(file, `${arch}_${variant}`, nodes, inits, [['input', ['batch', 3, 'height', 'width']]], [...extra, [cur, ['batch', last.cout, 'oh', 'ow']]]);
  }
  return { file, layers, output, outputs };
}

/**
 * A style iteration's forward for onnxruntime: the 'style' stack, the pixel-averaged Gram
 * matrices of the `styleLayers` and the `contentLayer`'s map as outputs, at `size` x `size`
 * (the averaging constant depends on it). Returns {file, outputs: {layerName: onnxOutputName}}.
 */
function writeStyleOnnx(file, arch, size, styleLayers, contentLayer, seed = 1) {
  const layers = vggLayers(arch, 'style', seed);
  const shapes = vggShapes(layers, size, size);
  const outputs = {};
  const nodes = [];
  const inits = [];
  vggNodes(layers, nodes, inits);
  const outInfo = [];
  for (const name of styleLayers) {
    const i = layers.findIndex((l) => l.name === name);
    if (i < 0) throw new Error(`vgg-onnx: no layer '${name}' in ${arch} up to block5_conv1`);
    outputs[name] = gramNodes(outName(layers[i]), shapes[i].h * shapes[i].w, nodes, inits);
    outInfo.push([outputs[name], ['batch', layers[i].cout, layers[i].cout]]);
  }
  const ci = layers.findIndex((l) => l.name === contentLayer);
  if (ci < 0) throw new Error(`vgg-onnx: no layer '${contentLayer}' in ${arch} up to block5_conv1`);
  outputs[contentLayer] = outName(layers[ci]);
  outInfo.push([outputs[contentLayer], ['batch', layers[ci].cout, shapes[ci].h, shapes[ci].w]]);
  if (!fs.existsSync(file)) writeModel(file, `${arch}_style_${size}`, nodes, inits, [['input', ['batch', 3, size, size]]], outInfo);
  return { file, outputs };
}

/** A lone pixel-averaged Gram matrix: input [N, c, h, w], output [N, c, c]. Returns {file, output}. */
function writeGramOnnx(file, c, h, w) {
  const nodes = [];
  const inits = [];
  const output = gramNodes('input', h * w, nodes, inits);
  if (!fs.existsSync(file)) writeModel(file, `gram_${c}_${h}x${w}`, nodes, inits, [['input', ['batch', c, h, w]]], [[output, ['batch', c, c]]]);
  return { file, output };
}

/** One layer of `layers` (conv + bias + ReLU, no pool) alone as ONNX: input [N, cin, h, w]. Returns {file, output}. */
function writeLayerOnnx(file, layer) {
  const l = { ...layer, poolAfter: false };
  const nodes = [];
  const inits = [];
  const output = vggNodes([l], nodes, inits);
  if (!fs.existsSync(file)) writeModel(file, l.name, nodes, inits, [['input', ['batch', l.cin, 'height', 'width']]], [[output, ['batch', l.cout, 'oh', 'ow']]]);
  return { file, output };
}

module.exports = { writeVggOnnx, writeStyleOnnx, writeGramOnnx, writeLayerOnnx, vggLayers, vggConvStack, vggShapes, vggFlops, outName };
