// The package's two faces: `import … from 'eyecandy'` (dist/index.mjs) and
// `require('eyecandy')` (dist/index.js) through package.json's exports map,
// resolved by name from inside the package as a dependent would. The full
// install-from-tarball check is scripts/pack-check.js (npm run test:pack).
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

test('ESM and CommonJS see the same exports, and one module instance', () => {
  const esm = JSON.parse(
    node([
      '--input-type=module',
      '-e',
      `import * as m from 'eyecandy'; import { createRequire } from 'module';
       const cjs = createRequire(import.meta.url)('eyecandy');
       const names = Object.keys(m).filter((k) => k !== 'default').sort();
       console.log(JSON.stringify({ names, same: m.classify === cjs.classify && m.Tensor === cjs.Tensor, dflt: m.default === cjs }));`,
    ]),
  );
  const cjs = JSON.parse(node(['-e', `console.log(JSON.stringify(Object.keys(require('eyecandy')).filter((k) => k !== '__esModule').sort()))`]));
  expect(esm.names).toEqual(cjs);
  expect(esm.names).toEqual(expect.arrayContaining(['classify', 'locate', 'dream', 'style', 'Tensor', 'Network', 'loadModel']));
  expect(esm.same).toBe(true);
  expect(esm.dflt).toBe(true);
});

test('an ES module runs a tensor operation through the addon', () => {
  const out = node([
    '--input-type=module',
    '-e',
    `import { Tensor } from 'eyecandy'; const t = Tensor.from([1, 2, 3, 4], [2, 2]).clone().reshape([4]); console.log(JSON.stringify({ shape: t.shape, data: Array.from(t.data()) }));`,
  ]);
  expect(JSON.parse(out)).toEqual({ shape: [4], data: [1, 2, 3, 4] });
});
