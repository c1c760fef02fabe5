#!/usr/bin/env node
// The eyecandy command line.
import { doctor } from '../info';

const USAGE = `usage: eyecandy <command> [options]

commands:
  doctor [--json]    version, backends compiled and available, SIMD level, threads
  help               this text`;

function runDoctor(args: string[]): number {
  const d = doctor();
  if (args.includes('--json')) {
    process.stdout.write(JSON.stringify(d, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `eyecandy ${d.version}  (node ${d.node}, ${d.platform})`,
    `backends compiled: ${d.backends.join(', ')}`,
    ...d.status.map((s) => `  ${s.name.padEnd(6)} ${(s.available ? 'available' : s.compiled ? 'unavailable' : 'not compiled').padEnd(13)} ${s.detail}`),
    `simd: ${d.simd}`,
    `threads: ${d.threads}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'doctor':
      return runDoctor(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    default:
      process.stderr.write(`eyecandy: unknown command '${cmd}'\n${USAGE}\n`);
      return 2;
  }
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`eyecandy: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
