// The layout is the architecture (docs/ARCHITECTURE.md): each folder may import only what its
// process has, and no module imports itself round a circle.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE_FOLDERS = ['common', 'electron', 'backend', 'engine', 'server', 'cli', 'bench', 'renderer', 'native'];
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|(?:^|[\s;(])import\s*\(?\s*['"](\.[^'"]+)['"]/g;

/** Every source file under the folders, with the project files it imports (relative to the root). */
function importGraph(): Map<string, string[]> {
    const graph = new Map<string, string[]>();
    for (const folder of SOURCE_FOLDERS) {
        for (const entry of readdirSync(path.join(root, folder), { recursive: true, withFileTypes: true })) {
            if (!entry.isFile() || !/\.tsx?$/.test(entry.name) || entry.parentPath.includes('node_modules')) continue;
            const file = path.relative(root, path.join(entry.parentPath, entry.name));
            const source = readFileSync(path.join(root, file), 'utf8');
            const imports = [...source.matchAll(IMPORT)].map((m) => path.normalize(path.join(path.dirname(file), m[1] ?? m[2] ?? '')));
            graph.set(file, imports);
        }
    }
    return graph;
}

/** Every circle of imports, as the files round it. */
function findCycles(graph: Map<string, string[]>): string[][] {
    const cycles: string[][] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, trail: string[]) => {
        if (state.get(file) === 'done') return;
        if (state.get(file) === 'visiting') {
            cycles.push([...trail.slice(trail.indexOf(file)), file]);
            return;
        }
        state.set(file, 'visiting');
        for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...trail, file]);
        state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    return cycles;
}

const graph = importGraph();
const folderOf = (file: string) => file.split(path.sep)[0] ?? '';
const importsOf = (folder: string) => [...graph].filter(([file]) => folderOf(file) === folder).flatMap(([file, imports]) => imports.map((to) => ({ file, to })));

describe('layout', () => {
    test('the import graph was read', () => {
        assert.ok(graph.size > 60, `${graph.size} source files`);
        assert.ok((graph.get(path.join('engine', 'host.ts')) ?? []).includes(path.join('engine', 'engine.ts')));
        assert.ok((graph.get(path.join('renderer', 'src', 'bridge.ts')) ?? []).includes(path.join('common', 'rpc.ts')), 'imports across folders are seen');
    });

    // Which folders each folder may import from; a folder may always import itself.
    const allowed: Record<string, string[]> = {
        common: [],
        renderer: ['common'],
        engine: ['common'],
        backend: ['common'],
        electron: ['common', 'backend'],
        server: ['common', 'backend', 'cli'],
        cli: ['common', 'backend', 'engine'],
        bench: ['common', 'engine', 'backend', 'test'],
        native: ['engine'],
    };
    for (const [folder, others] of Object.entries(allowed)) {
        test(`${folder}/ imports ${others.length === 0 ? 'nothing outside itself' : `only from ${others.join(', ')}`}`, () => {
            const stray = importsOf(folder).filter(({ to }) => folderOf(to) !== folder && !others.includes(folderOf(to)));
            assert.deepEqual(stray.map(({ file, to }) => `${file} → ${to}`), []);
        });
    }

    test('no import circles', () => {
        assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c', 'a']], 'a circle is found');
        assert.deepEqual(findCycles(graph).map((cycle) => cycle.join(' → ')), []);
    });
});
