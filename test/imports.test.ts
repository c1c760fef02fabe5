// src/ts has no import cycles: a cycle makes module load order matter and hides
// a missing layer (see the README's Architecture). Type-only imports count too,
// as they still tie the two files' designs together.
import * as fs from 'fs';
import * as path from 'path';

/** Relative imports of every .ts file under dir, as absolute file paths. */
function importGraph(dir: string): Map<string, string[]> {
  const files: string[] = [];
  const walk = (d: string) =>
    fs.readdirSync(d, { withFileTypes: true }).forEach((e) => {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    });
  walk(dir);
  const graph = new Map<string, string[]>();
  const spec = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g;
  for (const f of files) {
    const deps: string[] = [];
    for (const m of fs.readFileSync(f, 'utf8').matchAll(spec)) {
      const base = path.resolve(path.dirname(f), m[1] ?? m[2]);
      const target = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
      if (!target) throw new Error(`${f}: cannot resolve '${m[1] ?? m[2]}'`);
      deps.push(target);
    }
    graph.set(f, deps);
  }
  return graph;
}

/** Every cycle's files (one per strongly connected component of more than one file, or a self-import). */
function cycles(graph: Map<string, string[]>, root: string): string[][] {
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(path.relative(root, w));
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test('src/ts has no import cycles', () => {
  const root = path.resolve(__dirname, '../src/ts');
  const graph = importGraph(root);
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get(path.join(root, 'index.ts'))!.length).toBeGreaterThan(10);
  expect(cycles(graph, root)).toEqual([]);
});

test('the check finds a cycle through a fixture', () => {
  const root = path.resolve(__dirname, 'fixtures/cycle');
  expect(cycles(importGraph(root), root)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
});
