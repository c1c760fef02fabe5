import { doctor } from '../info';
import { parseArgs } from './args';

export async function runDoctor(argv: string[]): Promise<number> {
  const { options } = parseArgs('doctor', argv, { json: { type: 'boolean' } });
  const d = doctor();
  if (options.json) {
    process.stdout.write(JSON.stringify(d, null, 2) + '\n');
    return 0;
  }
  const state = (s: { available: boolean; compiled: boolean }) =>
    s.available ? 'available' : s.compiled ? 'unavailable' : 'not compiled';
  const lines = [
    `eyecandy ${d.version}  (node ${d.node}, ${d.platform})`,
    `addon: ${d.addon}`,
    `backends compiled: ${d.backends.join(', ')}`,
    ...d.status.map((s) => `  ${s.name.padEnd(6)} ${state(s).padEnd(13)} ${s.detail}`),
    `simd: ${d.simd}`,
    `threads: ${d.threads}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
