// What this build and machine offer: backends, CUDA devices, SIMD, threads.
import { addon, addonPath, NativeInfo } from './native';
import { checkInteger } from './validate';

/** One backend: whether this build has it, whether it can run here, and the device or the reason. */
export interface BackendStatus {
  name: string;
  compiled: boolean;
  available: boolean;
  /** Device name where available, else why not. */
  detail: string;
}

/** What `doctor()` reports: version, addon file, backends, SIMD level, threads. */
export interface Doctor extends NativeInfo {
  /** The addon file in use. */
  addon: string;
  node: string;
  platform: string;
  status: BackendStatus[];
}

// CUDA's version integers: 1000 * major + 10 * minor.
function cudaVersion(v: number): string {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

/** What this installation can do (as `eyecandy doctor` prints it): the addon loaded, backends compiled and available, the CPU's SIMD level, threads. */
export function doctor(): Doctor {
  const info = addon().info();
  const cuda = info.cuda;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const status: BackendStatus[] = [
    { name: 'cpu', compiled: true, available: true, detail: `${info.simd}, ${info.threads} threads` },
    {
      name: 'cuda',
      compiled: cuda.compiled,
      available: cuda.deviceCount > 0,
      detail: !cuda.compiled
        ? 'not compiled in this build'
        : cuda.deviceCount > 0
          ? `${cuda.deviceName}, ${gib(cuda.freeMemory)} free of ${gib(cuda.totalMemory)} ` +
            `(${cuda.deviceCount} device${cuda.deviceCount > 1 ? 's' : ''}; driver ${cudaVersion(cuda.driverVersion)}, ` +
            `runtime ${cudaVersion(cuda.runtimeVersion)})`
          : cuda.error,
    },
    { name: 'cudnn', compiled: false, available: false, detail: 'not part of this build yet' },
  ];
  return { ...info, addon: addonPath(), node: process.version, platform: `${process.platform}-${process.arch}`, status };
}

/** Sets the CPU worker threads (1..1024). */
export function setThreads(n: number): void {
  addon().setThreads(checkInteger('setThreads', 'threads', n, 1, 1024));
}

/** Every op of the native op set, in declaration order. */
export function opNames(): string[] {
  return addon().opNames();
}
