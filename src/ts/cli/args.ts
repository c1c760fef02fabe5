// A small, strict argument parser: --name value, --name=value, -x value, --flag.
// Unknown options and missing values are errors that name the command and option.

export type OptionType = 'boolean' | 'string' | 'number';

export interface OptionSpec {
  type: OptionType;
  /** One-letter alias, e.g. 'o' for -o. */
  short?: string;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
}

export interface Parsed {
  positional: string[];
  options: Record<string, string | number | boolean | (string | number)[]>;
}

export class UsageError extends Error {}

export function parseArgs(command: string, argv: string[], spec: Record<string, OptionSpec>): Parsed {
  const positional: string[] = [];
  const options: Parsed['options'] = {};
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      value = eq > 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const n = byShort.get(arg.slice(1));
      if (!n) throw new UsageError(`eyecandy ${command}: unknown option ${arg}`);
      name = n;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`eyecandy ${command}: unknown option --${name}`);
    let v: string | number | boolean;
    if (s.type === 'boolean') {
      if (value !== undefined) throw new UsageError(`eyecandy ${command}: --${name} takes no value`);
      v = true;
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`eyecandy ${command}: --${name} needs a value`);
        value = argv[++i];
      }
      if (s.type === 'number') {
        const num = Number(value);
        if (value.trim() === '' || !Number.isFinite(num))
          throw new UsageError(`eyecandy ${command}: --${name} expects a number but received '${value}'`);
        v = num;
      } else {
        v = value;
      }
    }
    if (s.multiple) {
      const list = (options[name] as (string | number)[] | undefined) ?? [];
      list.push(v as string | number);
      options[name] = list;
    } else {
      options[name] = v;
    }
  }
  return { positional, options };
}
