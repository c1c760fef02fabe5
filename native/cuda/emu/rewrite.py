#!/usr/bin/env python3
"""Rewrites a .cu file into C++ for the CUDA emulator (cuda_runtime.h here).

    rewrite.py IN.cu OUT.cc

Each launch `callee<<<config>>>(args)` becomes
`(::ec_emu::Launch(config) % [&](auto&&... ec_a) { callee(ec_a...); })(args)`,
where callee is the kernel's name with its namespace and template arguments.
Each __shared__ array declaration gets a call that poisons it per block.
Line breaks are kept and a #line directive names the original file, so
compiler messages point at the .cu source.
"""
import re
import sys

# `__shared__ [__align__(n)] TYPE NAME[..]...;` gets a call after it that poisons
# the array at the start of every block (see shared_fresh in runtime.cc).
SHARED = re.compile(r'(__shared__\s+(?:__align__\(\d+\)\s+)?[^;{}()]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)+;)')


def mark_shared(src):
    return SHARED.sub(lambda m: '%s ::ec_emu::shared_fresh(%s, sizeof(%s));' % (m.group(1), m.group(2), m.group(2)), src)


def callee_start(src, end):
    """Index where the callee expression that ends at `end` begins."""
    k = end
    while k > 0 and src[k - 1].isspace():
        k -= 1
    if src[k - 1] == '>':  # explicit template arguments
        depth = 0
        while True:
            k -= 1
            if src[k] == '>':
                depth += 1
            elif src[k] == '<':
                depth -= 1
                if depth == 0:
                    break
    while k > 0 and (src[k - 1].isalnum() or src[k - 1] in '_:'):
        k -= 1
    return k


def rewrite(src):
    out, i, n = [], 0, 0
    while True:
        j = src.find('<<<', i)
        if j < 0:
            out.append(src[i:])
            return ''.join(out), n
        e = src.find('>>>', j)
        if e < 0:
            raise SystemExit('rewrite.py: <<< without >>>')
        k = callee_start(src, j)
        callee = src[k:j].strip()
        if not callee:
            raise SystemExit('rewrite.py: no kernel name before <<< at offset %d' % j)
        out.append(src[i:k])
        out.append('(::ec_emu::Launch(%s) %% [&](auto&&... ec_a) { %s(ec_a...); })' % (src[j + 3:e], callee))
        i = e + 3
        n += 1


def main():
    src_path, out_path = sys.argv[1], sys.argv[2]
    with open(src_path) as f:
        src = f.read()
    text, _ = rewrite(mark_shared(src))
    with open(out_path, 'w') as f:
        f.write('#line 1 "%s"\n' % src_path.replace('\\', '/'))
        f.write(text)


if __name__ == '__main__':
    main()
