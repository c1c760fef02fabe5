#!/usr/bin/env python3
"""Times VGG19's conv stack in PyTorch on the same workloads as
native/cuda/bench/bench_cuda.cc, for scripts/device-check.sh.

The network is built from torch.nn directly (no torchvision): torchvision's
VGG19 "features" (16 3x3 convs with bias and ReLU, 5 2x2 max pools), fp32.
Modes: fwd (no_grad), fwd+bwd_x (gradient of sum(output) w.r.t. the input
only, weights frozen), fwd+bwd (input and all weight gradients), and style:
one style-transfer iteration as scripts/cuda-check.js --bench times it
(the network up to conv5_1; Gram matrices, pixel-averaged, of the ReLU
outputs of conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 against targets by
mean squared error, conv4_2 against a target by RMS, all summed, gradient to
the image).

Two PyTorch settings are timed: "torch_fp32" with TF32 disabled (same
arithmetic as our fp32 kernels) and "torch_tf32" with PyTorch's default
convolution setting (cuDNN may use TF32 tensor cores).

    python3 bench/gpu/torch_vgg19.py [SIZE:BATCH ...]   default 224:1 224:8 512:1 512:8

Prints "RESULT <impl> <size> <batch> <mode> <ms> <gflops>" lines.
"""
import sys
import time

import torch
import torch.nn as nn

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def vgg19_features():
    layers, cin = [], 3
    for c in CFG:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
            cin = c
    return nn.Sequential(*layers)


STYLE_CONVS, CONTENT_CONV = (0, 2, 4, 8, 12), 9  # conv1_1, 2_1, 3_1, 4_1, 5_1; conv4_2


def style_loss_fn(net, x, targets):
    """One style iteration's loss: taps after the ReLUs of the listed convs."""
    feats, conv, h = {}, -1, x
    for layer in net:
        h = layer(h)
        if isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, nn.ReLU) and (conv in STYLE_CONVS or conv == CONTENT_CONV):
            feats[conv] = h
            if conv == max(STYLE_CONVS):
                break
    loss = 0.0
    for i in STYLE_CONVS:
        f = feats[i]
        n, c, hh, ww = f.shape
        f = f.reshape(n, c, hh * ww)
        g = torch.bmm(f, f.transpose(1, 2)) / (hh * ww)
        loss = loss + ((g - targets[i]) ** 2).mean()
    loss = loss + ((feats[CONTENT_CONV] - targets[CONTENT_CONV]) ** 2).mean().sqrt()
    return loss


def conv_gflop(size, batch):
    total, cin, s = 0.0, 3, size
    for c in CFG:
        if c == "M":
            s //= 2
        else:
            total += 2.0 * batch * s * s * c * cin * 9 / 1e9
            cin = c
    return total


def time_ms(fn):
    for _ in range(2):  # warm-up: cuDNN algorithm choice, allocator
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    iters, elapsed = 0, 0.0
    while iters < 3 or (elapsed < 1.0 and iters < 20):
        fn()
        torch.cuda.synchronize()
        iters += 1
        elapsed = time.perf_counter() - t0
    return 1000.0 * elapsed / iters


def main():
    if not torch.cuda.is_available():
        print("SKIP torch_vgg19: torch.cuda.is_available() is False")
        return 2
    runs = sys.argv[1:] or ["224:1", "224:8", "512:1", "512:8"]
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    torch.backends.cudnn.benchmark = True
    net = vgg19_features().cuda().float()
    for impl, tf32 in (("torch_fp32", False), ("torch_tf32", True)):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for r in runs:
            size, batch = (int(v) for v in r.split(":"))
            x = torch.rand(batch, 3, size, size, device="cuda") * 2 - 1
            gflop = conv_gflop(size, batch)

            def fwd():
                with torch.no_grad():
                    net(x)

            def bwd(weights):
                for p in net.parameters():
                    p.requires_grad_(weights)
                    p.grad = None
                xi = x.detach().requires_grad_(True)
                net(xi).sum().backward()

            # Style targets of the right shapes (values do not matter for timing).
            with torch.no_grad():
                targets, conv, h = {}, -1, x
                for layer in net:
                    h = layer(h)
                    if isinstance(layer, nn.Conv2d):
                        conv += 1
                    elif isinstance(layer, nn.ReLU):
                        if conv in STYLE_CONVS:
                            targets[conv] = torch.rand(batch, h.shape[1], h.shape[1], device="cuda")
                        if conv == CONTENT_CONV:
                            targets[conv] = torch.rand_like(h)

            def style_iter():
                for p in net.parameters():
                    p.requires_grad_(False)
                xi = x.detach().requires_grad_(True)
                style_loss_fn(net, xi, targets).backward()

            for mode, fn, mult in (("fwd", fwd, 1), ("fwd+bwd_x", lambda: bwd(False), 2),
                                   ("fwd+bwd", lambda: bwd(True), 3), ("style", style_iter, 2)):
                ms = time_ms(fn)
                print("RESULT %s %d %d %s %.3f %.0f" % (impl, size, batch, mode, ms, gflop * mult / (ms / 1000.0)),
                      flush=True)
            del x
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
