// Option checks, done once in TypeScript before anything crosses into C++.
// Messages name the option, the accepted range and what came:
//   conv2d: Expected integer between 1 and 65536 for groups but received 0 of type number

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(describe).join(',')}]`;
  if (value instanceof Float32Array) return `Float32Array(${value.length})`;
  if (value && typeof value === 'object') return value.constructor?.name ?? 'object';
  return String(value);
}

/** The error every validator throws. */
export function invalidParameterError(who: string, name: string, expected: string, actual: unknown): Error {
  return new Error(`${who}: Expected ${expected} for ${name} but received ${describe(actual)} of type ${typeof actual}`);
}

export function checkInteger(who: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalidParameterError(who, name, `integer between ${min} and ${max}`, v);
  return v;
}

export function checkNumber(who: string, name: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) {
    const range =
      min === -Infinity && max === Infinity
        ? 'number'
        : max === Infinity
          ? `number >= ${min}`
          : min === -Infinity
            ? `number <= ${max}`
            : `number between ${min} and ${max}`;
    throw invalidParameterError(who, name, range, v);
  }
  return v;
}

export function checkFinite(who: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidParameterError(who, name, 'finite number', v);
  return v;
}

export function checkBoolean(who: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidParameterError(who, name, 'boolean', v);
  return v;
}

export function checkOneOf<T extends string>(who: string, name: string, v: unknown, choices: readonly T[]): T {
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v))
    throw invalidParameterError(who, name, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, v);
  return v as T;
}

export function checkName(who: string, name: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256)
    throw invalidParameterError(who, name, 'non-empty string of at most 256 characters', v);
  return v;
}

/** A number or a pair of numbers: returns [h, w]. */
export function checkPair(who: string, name: string, v: unknown, min: number, max: number): [number, number] {
  if (typeof v === 'number') {
    checkInteger(who, name, v, min, max);
    return [v, v];
  }
  if (!Array.isArray(v) || v.length !== 2) throw invalidParameterError(who, name, `integer or [h, w] pair`, v);
  return [checkInteger(who, `${name}[0]`, v[0], min, max), checkInteger(who, `${name}[1]`, v[1], min, max)];
}

export function checkShape(who: string, name: string, v: unknown, allowWildcard = false): number[] {
  if (!Array.isArray(v) || v.length > 8) throw invalidParameterError(who, name, 'array of at most 8 dimensions', v);
  const lo = allowWildcard ? -1 : 0;
  v.forEach((d, i) => checkInteger(who, `${name}[${i}]`, d, lo, 2 ** 31 - 1));
  return v as number[];
}
