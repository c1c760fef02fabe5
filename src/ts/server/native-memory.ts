// Native memory the server's networks hold (Network.memory: retained for backward and pooled),
// and GPU memory where a CUDA device answers.
import { doctor } from '../info';
import { Network } from '../nn/network';

const networks = new Set<Network>();

export function watchNetwork(net: Network): void {
  networks.add(net);
}

export function memoryInUse(): { retained: number; pool: number } | undefined {
  let retained = 0;
  let pool = 0;
  for (const n of networks) {
    try {
      const m = n.memory();
      retained += m.retained;
      pool += m.pool;
    } catch {
      networks.delete(n); // disposed
    }
  }
  return { retained, pool };
}

export function gpuMemory(): { total: number; free: number } | undefined {
  const c = doctor().cuda;
  return c.deviceCount > 0 ? { total: c.totalMemory, free: c.freeMemory } : undefined;
}
