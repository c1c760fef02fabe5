// Choosing the classes of an any-size image from its class map, so that every
// object is kept, not only the one that fills most windows.
//
// A fully convolutional network gives one class vector per window. Pooling
// them into one vector (the mean of logits) lets a large or confident object
// drown a small one. Selecting from the map itself keeps each window's voice:
// 'window_union' takes the union of every window's top classes, each class
// ranked by its best window (first by its best rank in any window, then by its
// best probability there), so the class that wins any window comes before any
// class that only runs second everywhere.
import { MapPooling, poolClassMap, softmax } from '../nn/rewrites/fcn';

/**
 * How the class map [rows, cols, K] becomes a ranked list of classes:
 * - 'window_union' (default): every window's top classes, each ranked by its best window;
 *   the probability is the class's best per-window softmax.
 * - 'mean_logits': the mean of the logits, then softmax (one distribution; a large object dominates).
 * - 'max_softmax': each class's largest per-window probability.
 */
export type ClassPooling = 'window_union' | MapPooling;
export const CLASS_POOLINGS: readonly ClassPooling[] = ['window_union', 'mean_logits', 'max_softmax'];

/** Where on the class map one class stands. */
export interface ClassWindows {
  /** Windows (row-major index into the map) where the class is the top class. */
  wins: number[];
  /** Its best rank over the windows (0: it is some window's top class). */
  bestRank: number;
  /** The window where its probability is highest, and that probability. */
  bestWindow: number;
  bestProbability: number;
}

/** The per-window softmax of a class map and the ranking of each class in each window. */
export class ClassMap {
  /** Per-window probabilities, positions × classes. */
  readonly probs: Float32Array;
  readonly positions: number;

  constructor(
    readonly logits: Float32Array,
    readonly classes: number,
    /** [rows, columns] of the map. */
    readonly size: [number, number],
  ) {
    const positions = logits.length / classes;
    if (!Number.isInteger(positions) || positions < 1 || positions !== size[0] * size[1])
      throw new Error(`class map: ${logits.length} values are not ${size[0]}x${size[1]} windows of ${classes} classes`);
    this.positions = positions;
    this.probs = new Float32Array(logits.length);
    for (let p = 0; p < positions; ++p) this.probs.set(softmax(logits.subarray(p * classes, (p + 1) * classes)), p * classes);
  }

  /** Probability of class c in window p. */
  prob(p: number, c: number): number {
    return this.probs[p * this.classes + c];
  }

  /** The top class of each window. */
  winners(): number[] {
    return Array.from({ length: this.positions }, (_, p) => this.ranked(p, 1)[0]);
  }

  /** The n most probable classes of window p, most probable first. */
  ranked(p: number, n: number): number[] {
    const row = this.probs.subarray(p * this.classes, (p + 1) * this.classes);
    const top: number[] = [];
    for (let c = 0; c < this.classes; ++c) {
      if (top.length === n && row[c] <= row[top[n - 1]]) continue;
      let i = Math.min(top.length, n - 1);
      top[i] = c;
      while (i > 0 && row[top[i - 1]] < row[c]) {
        top[i] = top[i - 1];
        top[--i] = c;
      }
    }
    return top;
  }

  /** Where class c stands on the map (its best rank is searched among each window's first `depth` classes). */
  windowsOf(c: number, depth = this.classes): ClassWindows {
    const wins: number[] = [];
    let [bestRank, bestWindow, bestProbability] = [Infinity, 0, -1];
    for (let p = 0; p < this.positions; ++p) {
      const q = this.prob(p, c);
      if (q > bestProbability) [bestWindow, bestProbability] = [p, q];
      let rank = 0;
      const row = this.probs.subarray(p * this.classes, (p + 1) * this.classes);
      for (let k = 0; k < this.classes && rank < depth; ++k) if (row[k] > q || (row[k] === q && k < c)) ++rank;
      if (rank === 0) wins.push(p);
      bestRank = Math.min(bestRank, rank);
    }
    return { wins, bestRank, bestWindow, bestProbability };
  }
}

export interface SelectedClass {
  index: number;
  /** The score the ranking used: best per-window probability ('window_union', 'max_softmax'), or the pooled probability. */
  probability: number;
}

/**
 * The k classes of a class map, ranked as `pooling` says. For 'window_union', a class's key is
 * (its best rank over the windows, minus its best probability): each window's top class first,
 * then each window's second, and so on.
 */
export function selectClasses(map: ClassMap, k: number, pooling: ClassPooling = 'window_union'): SelectedClass[] {
  const n = Math.min(k, map.classes);
  if (pooling !== 'window_union') {
    const scores = poolClassMap(map.logits, map.classes, pooling);
    return Array.from(scores.keys())
      .sort((a, b) => scores[b] - scores[a])
      .slice(0, n)
      .map((index) => ({ index, probability: scores[index] }));
  }
  // Each window's n best classes hold every candidate: a class outside all of them ranks n or worse everywhere.
  const rank = new Map<number, number>();
  const best = new Map<number, number>();
  for (let p = 0; p < map.positions; ++p) {
    map.ranked(p, n).forEach((c, r) => {
      rank.set(c, Math.min(rank.get(c) ?? Infinity, r));
      best.set(c, Math.max(best.get(c) ?? 0, map.prob(p, c)));
    });
  }
  return Array.from(rank.keys())
    .sort((a, b) => rank.get(a)! - rank.get(b)! || best.get(b)! - best.get(a)! || a - b)
    .slice(0, n)
    .map((index) => ({ index, probability: best.get(index)! }));
}

/** One listed class on the class map: the windows it wins and its best window. */
export interface ClassOnMap {
  index: number;
  label: string;
  /** Windows [row, column] where it is the top class. */
  wins: [number, number][];
  /** The window [row, column] where its probability is highest, and that probability. */
  best: [number, number];
  probability: number;
}

/** The class map as any-size classify reports it. */
export interface ClassMapSummary {
  /** [rows, columns]. */
  size: [number, number];
  /** Each window's top class (row-major), its label and probability. */
  winners: { index: number; label: string; probability: number }[];
  /** Where each listed class stands, in the order of the list. */
  classes: ClassOnMap[];
}

export function summarizeClassMap(map: ClassMap, listed: number[], labels: string[] | undefined): ClassMapSummary {
  const cols = map.size[1];
  const at = (p: number): [number, number] => [Math.floor(p / cols), p % cols];
  const name = (c: number) => labels?.[c] ?? `class ${c}`;
  return {
    size: map.size,
    winners: map.winners().map((c, p) => ({ index: c, label: name(c), probability: map.prob(p, c) })),
    classes: listed.map((c) => {
      const w = map.windowsOf(c, 1);
      return { index: c, label: name(c), wins: w.wins.map(at), best: at(w.bestWindow), probability: w.bestProbability };
    }),
  };
}

/** selectClasses with each class named: its label, or `class <index>` when there are none. */
export function labelledClasses(
  map: ClassMap,
  k: number,
  pooling: ClassPooling,
  labels: string[] | undefined,
): { index: number; label: string; probability: number }[] {
  return selectClasses(map, k, pooling).map(({ index, probability }) => ({ index, label: labels?.[index] ?? `class ${index}`, probability }));
}

/**
 * Classes by the per-window probabilities averaged with the given weights (one per window, e.g. how
 * much of a mask each window sees), so windows that see little of it hardly vote.
 */
export function weightedClasses(map: ClassMap, weights: Float32Array, k: number, labels: string[] | undefined): { index: number; label: string; probability: number }[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const scores = new Float32Array(map.classes);
  for (let p = 0; p < map.positions; ++p) {
    const w = total > 0 ? weights[p] / total : 1 / map.positions;
    for (let c = 0; c < map.classes; ++c) scores[c] += w * map.prob(p, c);
  }
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, Math.min(k, map.classes))
    .map((index) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: scores[index] }));
}
