// The op set, one row per op. Everything that lists ops is generated from
// EC_OPS: the enum (ops.h), OpInfo and the name lookup (ops.cc), each
// backend's kernel declarations and dispatch switch, the binding's attribute
// reader and the addon's opTable() export.
//
// Columns:
//   Enum      ec::Op member
//   name      the op's name on the wire and in error texts
//   kernel    kernel name prefix: each backend defines <kernel>_forward / _backward
//             (flatten shares reshape's kernels)
//   min, max  number of inputs (max -1: any number)
//   bin, bout what backward reads: the forward inputs, the forward output
//   Attrs     the attribute struct (ops.h); its fields() lists the JS keys
//   flags     kPointwise: each output element depends only on the same input
//                         element, same shape
//             kSpatial:   output NHWC positions correspond to the input's, so the
//                         op runs at any image size and has a receptive field
//             kWindow:    a kernel/stride/dilation window (the receptive field grows)
#pragma once

#define EC_OPS(X)                                                                                       \
  /*  Enum            name             kernel           min max bin bout Attrs           flags */       \
  X(Conv2d,         conv2d,          conv2d,          2,  3, 1, 0, Conv2dAttrs,    kSpatial | kWindow)   \
  X(Dense,          dense,           dense,           2,  3, 1, 0, DenseAttrs,     0)                    \
  X(Relu,           relu,            relu,            1,  1, 0, 1, NoAttrs,        kPointwise | kSpatial) \
  X(Clip,           clip,            clip,            1,  1, 1, 0, ClipAttrs,      kPointwise | kSpatial) \
  X(LeakyRelu,      leaky_relu,      leaky_relu,      1,  1, 1, 0, LeakyReluAttrs, kPointwise | kSpatial) \
  X(Sigmoid,        sigmoid,         sigmoid,         1,  1, 0, 1, NoAttrs,        kPointwise | kSpatial) \
  X(Tanh,           tanh,            tanh,            1,  1, 0, 1, NoAttrs,        kPointwise | kSpatial) \
  X(MaxPool,        max_pool,        max_pool,        1,  1, 1, 1, PoolAttrs,      kSpatial | kWindow)   \
  X(AvgPool,        avg_pool,        avg_pool,        1,  1, 0, 0, PoolAttrs,      kSpatial | kWindow)   \
  X(GlobalAvgPool,  global_avg_pool, global_avg_pool, 1,  1, 0, 0, NoAttrs,        0)                    \
  X(GlobalMaxPool,  global_max_pool, global_max_pool, 1,  1, 1, 1, NoAttrs,        0)                    \
  X(Add,            add,             add,             2,  2, 0, 0, NoAttrs,        kSpatial)             \
  X(Mul,            mul,             mul,             2,  2, 1, 0, NoAttrs,        kSpatial)             \
  /* concat's backward reads each input's extent along the axis */                                     \
  X(Concat,         concat,          concat,          1, -1, 1, 0, AxisAttrs,      kSpatial)             \
  X(Softmax,        softmax,         softmax,         1,  1, 0, 1, AxisAttrs,      0)                    \
  X(LogSoftmax,     log_softmax,     log_softmax,     1,  1, 0, 1, AxisAttrs,      0)                    \
  X(Lrn,            lrn,             lrn,             1,  1, 1, 1, LrnAttrs,       kSpatial)             \
  X(BatchNorm,      batch_norm,      batch_norm,      5,  5, 1, 0, BatchNormAttrs, kSpatial)             \
  X(Reshape,        reshape,         reshape,         1,  1, 0, 0, ReshapeAttrs,   0)                    \
  X(Flatten,        flatten,         reshape,         1,  1, 0, 0, FlattenAttrs,   0)                    \
  X(Pad,            pad,             pad,             1,  1, 0, 0, PadAttrs,       kSpatial)             \
  X(ResizeBilinear, resize_bilinear, resize_bilinear, 1,  1, 0, 0, ResizeAttrs,    0)                    \
  X(Gram,           gram,            gram,            1,  1, 1, 0, NoAttrs,        0)                    \
  X(MseLoss,        mse_loss,        mse_loss,        2,  2, 1, 0, NoAttrs,        0)                    \
  X(RmsLoss,        rms_loss,        rms_loss,        2,  2, 1, 1, NoAttrs,        0)                    \
  X(SumSquares,     sum_squares,     sum_squares,     1,  1, 1, 0, NoAttrs,        0)                    \
  X(Transpose,      transpose,       transpose,       1,  1, 0, 0, TransposeAttrs, 0)                    \
  /* |x|; dx = sign(x) dy, 0 at 0 */                                                                   \
  X(Abs,            abs,             abs,             1,  1, 1, 0, NoAttrs,        kPointwise | kSpatial)
