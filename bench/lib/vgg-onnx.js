// Writes the convolutional stack of VGG16 or VGG19 (3x3 convs with bias and
// ReLU, 2x2 max-pools between the blocks, no pool after the last block) as an
// ONNX file with seeded random weights (He-scaled, so activations keep their
// magnitude), NCHW input of any height and width. The same weights are
// returned for peers that cannot read ONNX (TF.js builds the same network).
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
// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 (as GraphProto.node = 1).
const node = (op, name, inputs, outputs, attrs = []) =>
  msg(1, [...inputs.map((i) => bfield(1, i)), ...outputs.map((o) => bfield(2, o)), bfield(3, name), bfield(4, op), ...attrs]);
// TensorProto: dims 1, data_type 2 (FLOAT 1), name 8, raw_data 9 (as GraphProto.initializer = 5).
const initializer = (name, dims, data) => msg(5, [...dims.map((d) => vfield(1, d)), vfield(2, 1), bfield(8, name), bfield(9, data)]);
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

/** The layer list and weights: [{name, cin, cout, w (OIHW Float32Array), b}] and pool positions. */
function vggConvStack(arch, seed = 1) {
  const blocks = BLOCKS[arch];
  if (!blocks) throw new Error(`vgg-onnx: unknown architecture '${arch}' (expected vgg16 or vgg19)`);
  const rand = rng(seed);
  const layers = [];
  let cin = 3;
  blocks.forEach((convs, bi) => {
    convs.forEach((cout, ci) => {
      const w = new Float32Array(cout * cin * 9);
      const s = Math.sqrt(6 / (9 * cin));
      for (let i = 0; i < w.length; ++i) w[i] = (rand() * 2 - 1) * s;
      const b = new Float32Array(cout);
      for (let i = 0; i < cout; ++i) b[i] = (rand() * 2 - 1) * 0.05;
      layers.push({ name: `block${bi + 1}_conv${ci + 1}`, cin, cout, w, b, poolAfter: ci === convs.length - 1 && bi < blocks.length - 1 });
      cin = cout;
    });
  });
  return layers;
}

/** Forward multiply-adds x 2 at height h, width w (batch 1). */
function vggFlops(layers, h, w) {
  let f = 0;
  for (const l of layers) {
    f += 2 * h * w * 9 * l.cin * l.cout;
    if (l.poolAfter) (h = Math.floor(h / 2)), (w = Math.floor(w / 2));
  }
  return f;
}

function writeVggOnnx(file, arch, seed = 1) {
  const layers = vggConvStack(arch, seed);
  const nodes = [];
  const inits = [];
  let cur = 'input';
  for (const l of layers) {
    inits.push(initializer(`${l.name}_W`, [l.cout, l.cin, 3, 3], l.w), initializer(`${l.name}_B`, [l.cout], l.b));
    nodes.push(node('Conv', l.name, [cur, `${l.name}_W`, `${l.name}_B`], [`${l.name}_conv`], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [1, 1])]));
    nodes.push(node('Relu', `${l.name}_relu`, [`${l.name}_conv`], [`${l.name}_out`]));
    cur = `${l.name}_out`;
    if (l.poolAfter) {
      const p = l.name.replace(/_conv\d+$/, '_pool');
      nodes.push(node('MaxPool', p, [cur], [p], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]));
      cur = p;
    }
  }
  const graph = Buffer.concat([
    ...nodes,
    bfield(2, `${arch}_convs`),
    ...inits,
    valueInfo(11, 'input', ['batch', 3, 'height', 'width']),
    valueInfo(12, cur, ['batch', 512, 'oh', 'ow']),
  ]);
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2).
  const model = Buffer.concat([vfield(1, 7), bfield(2, 'eyecandy-bench'), msg(7, [graph]), msg(8, [bfield(1, ''), vfield(2, 13)])]);
  fs.writeFileSync(file, model);
  return { file, layers, output: cur };
}

module.exports = { writeVggOnnx, vggConvStack, vggFlops };
