// Every command's own help names every option its parser accepts. The options are read from the
// command's source text (each `name: { type: ... }` entry of its parseArgs spec), so an option added
// to a command later without a line in src/ts/cli/help.ts fails here, and so does a new command file.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { commandHelp } from '../../src/ts/cli/help';

const cliDir = path.resolve(__dirname, '../../src/ts/cli');
const cli = path.resolve(__dirname, '../../dist/cli/main.js');
/** Files in src/ts/cli that are helpers, not commands. */
const HELPERS = new Set(['args', 'main', 'help', 'progress', 'memory', 'output']);

const commands = fs
  .readdirSync(cliDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .filter((name) => !HELPERS.has(name))
  .sort();

/** Option names of every parseArgs spec entry in a source file: `name: { type:` or `'name-x': { type:`. */
function specOptions(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/(?:^|[\s{,])(?:'([a-z][a-z0-9-]*)'|([a-z][a-zA-Z0-9]*))\s*:\s*\{\s*type\s*:/g))
    names.add(m[1] ?? m[2]);
  return [...names];
}

test('the command files are the ones this test knows', () => {
  // Not a list to keep in step: a sanity check that the scan found the commands at all.
  expect(commands).toEqual(expect.arrayContaining(['classify', 'doctor', 'dream', 'locate', 'models', 'style']));
});

test('the spec scan reads both spec forms', () => {
  expect(specOptions(`parseArgs('x', argv, {\n  top: { type: 'number', short: 'n' },\n  'any-size': { type: 'boolean' },`)).toEqual([
    'top',
    'any-size',
  ]);
  expect(specOptions(`const SPEC = { json: { type: 'boolean' as const }, 'cache-dir': { type: 'string' as const } };`)).toEqual([
    'json',
    'cache-dir',
  ]);
});

describe.each(commands)('%s', (cmd) => {
  const options = specOptions(fs.readFileSync(path.join(cliDir, `${cmd}.ts`), 'utf8'));

  test('has its own help naming every option, with a usage and an example line', () => {
    const help = commandHelp(cmd);
    expect(help).toBeDefined();
    expect(help).toMatch(new RegExp(`^usage: eyecandy ${cmd}\\b`));
    expect(help).toMatch(/\nexample:\n  eyecandy \S/);
    expect(options.length).toBeGreaterThan(0);
    const missing = options.filter((o) => !new RegExp(`--${o}(?![a-z0-9-])`).test(help!));
    expect(missing).toEqual([]);
  });

  test('`<cmd> --help` and `help <cmd>` print it and exit 0', () => {
    const text = execFileSync(process.execPath, [cli, cmd, '--help'], { encoding: 'utf8' });
    expect(text).toBe(commandHelp(cmd) + '\n');
    expect(execFileSync(process.execPath, [cli, 'help', cmd], { encoding: 'utf8' })).toBe(text);
  });
});

test('`help <unknown>` is a usage error', () => {
  let code = 0;
  try {
    execFileSync(process.execPath, [cli, 'help', 'frobnicate'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    code = (e as { status: number }).status;
  }
  expect(code).toBe(2);
});
