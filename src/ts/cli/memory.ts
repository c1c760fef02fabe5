// --memory on the task commands: one line on stderr as the process ends, with
// the peak resident memory and the native tensor memory (live and peak).
import * as fs from 'fs';

import { memoryStats } from '../tensor';

const MB = 1024 * 1024;

/**
 * This process's peak resident memory in bytes: the kernel's high-water mark of its own address
 * space (Linux VmHWM). getrusage's maxRSS is the fallback elsewhere; on Linux it starts at the
 * RSS of the process that spawned this one, so a big parent would hide this process's own peak.
 */
export function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** The line: peak RSS (the kernel's high-water mark) and native bytes per backend. */
export function memoryLine(command: string): string {
  const peak = peakRss();
  const m = memoryStats();
  const dev = (name: string, d: { bytes: number; peak: number; tensors: number }) =>
    `${name} ${(d.bytes / MB).toFixed(1)} MB in ${d.tensors} tensors (peak ${(d.peak / MB).toFixed(1)} MB)`;
  const cuda = m.cuda.peak > 0 ? `, ${dev('cuda', m.cuda)}` : '';
  return `eyecandy ${command}: memory: peak RSS ${(peak / MB).toFixed(1)} MB, RSS now ${(process.memoryUsage.rss() / MB).toFixed(1)} MB; native live ${dev('cpu', m.cpu)}${cuda}\n`;
}

/** With `on`, writes memoryLine(command) to stderr when the process exits. */
export function reportMemoryAtExit(command: string, on: unknown): void {
  if (on) process.once('exit', () => process.stderr.write(memoryLine(command)));
}
