// --memory on the task commands: one line on stderr as the process ends, with
// the peak resident memory and the native tensor memory (live and peak).
import { memoryStats } from '../tensor';

const MB = 1024 * 1024;

/** The line: peak RSS (the kernel's high-water mark) and native bytes per backend. */
export function memoryLine(command: string): string {
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const m = memoryStats();
  const dev = (name: string, d: { bytes: number; peak: number; tensors: number }) =>
    `${name} ${(d.bytes / MB).toFixed(1)} MB in ${d.tensors} tensors (peak ${(d.peak / MB).toFixed(1)} MB)`;
  const cuda = m.cuda.peak > 0 ? `, ${dev('cuda', m.cuda)}` : '';
  return `eyecandy ${command}: memory: peak RSS ${(peakRss / MB).toFixed(1)} MB, RSS now ${(process.memoryUsage.rss() / MB).toFixed(1)} MB; native live ${dev('cpu', m.cpu)}${cuda}\n`;
}

/** With `on`, writes memoryLine(command) to stderr when the process exits. */
export function reportMemoryAtExit(command: string, on: unknown): void {
  if (on) process.once('exit', () => process.stderr.write(memoryLine(command)));
}
