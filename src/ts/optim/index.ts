// Optimizers over native tensors: L-BFGS (projected, with backtracking) and Adam,
// both with optional per-channel box bounds. They share one contract:
//   const { x, loss } = await lbfgs(async (x) => ({ loss, grad }), x0, { maxIterations: 100 });
// The objective lends x (do not keep or change it) and gives up its grad (the optimizer disposes it).
export { lbfgs, abortError } from './lbfgs';
export type { Objective, Bounds, OptimizeOptions, LbfgsOptions, OptimizeResult, StopReason } from './lbfgs';
export { adam } from './adam';
export type { AdamOptions } from './adam';
