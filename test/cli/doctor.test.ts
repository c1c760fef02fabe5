// `eyecandy doctor` reports the build and the machine.
import { execFileSync } from 'child_process';
import * as path from 'path';

const cli = path.resolve(__dirname, '../../dist/cli/main.js');

test('doctor says the CPU backend is available and why CUDA is or is not', () => {
  const text = execFileSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
  expect(text).toMatch(/^eyecandy \d+\.\d+\.\d+/);
  expect(text).toMatch(/\n  cpu +available +(avx512|avx2|sse4\.2|generic), \d+ threads\n/);
  expect(text).toMatch(/\n  cuda +(available|unavailable|not compiled) +\S/);
  expect(text).toMatch(/\nsimd: (avx512|avx2|sse4\.2|generic)\n/);
  expect(text).toMatch(/\nthreads: \d+\n/);
  const json = JSON.parse(execFileSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' }));
  expect(json.backends).toContain('cpu');
  if (json.cuda.compiled && json.cuda.deviceCount === 0) {
    // This is what a machine with nvcc but no driver or GPU (CI) must say.
    expect(text).toMatch(/\n  cuda +unavailable +no CUDA device \(/);
  }
});

test('an unknown command exits 2 with the usage', () => {
  let code = 0;
  let stderr = '';
  try {
    execFileSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    code = (e as { status: number }).status;
    stderr = String((e as { stderr: string }).stderr);
  }
  expect(code).toBe(2);
  expect(stderr).toContain("eyecandy: unknown command 'frobnicate'");
});

test('doctor names the addon file in use (EYECANDY_ADDON picks another build)', () => {
  const text = execFileSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
  const expected = process.env.EYECANDY_ADDON ? path.resolve(process.env.EYECANDY_ADDON) : path.resolve(__dirname, '../../build-cmake/Release/eyecandy.node');
  expect(text).toContain(`\naddon: ${expected}\n`);
});
