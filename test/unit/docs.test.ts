// docs/ARCHITECTURE.md is kept true: every file or folder it names in backticks exists, and every
// identifier it names (`loadModel()`, `ChatService.send()`, `KV_CACHE_TYPES`, an RPC method such
// as `chat.send`, an npm script) is declared where the code is: in the repository, or, for
// node-llama-cpp's own API, in its typings or our patch to it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** The repository's own source: what an identifier is looked for in. */
function sourceFiles(): Map<string, string> {
    const files = new Map<string, string>();
    const skip = new Set(['node_modules', 'dist', 'out', 'test-results', '.vite', '.git', 'results', 'fixtures']);
    const walk = (dir: string) => {
        for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
            const relative = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                if (!skip.has(entry.name) && !entry.name.startsWith('.')) walk(relative);
            } else if (/\.(tsx?|patch|json)$/.test(entry.name) && entry.name !== 'package-lock.json' && relative !== path.join('test', 'unit', 'docs.test.ts')) {
                files.set(relative, read(relative));
            }
        }
    };
    for (const folder of ['common', 'renderer', 'electron', 'server', 'backend', 'engine', 'cli', 'bench', 'native', 'test', 'assets']) walk(folder);
    files.set('package.json', read('package.json'));
    return files;
}

/** node-llama-cpp's typings: the library API the document names (`LlamaChatSession.promptWithMeta()`). */
function libraryTypings(): string {
    const dist = path.join(root, 'node_modules', 'node-llama-cpp', 'dist');
    if (!existsSync(dist)) return '';
    return readdirSync(dist, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile() && entry.name.endsWith('.d.ts'))
        .map((entry) => readFileSync(path.join(entry.parentPath, entry.name), 'utf8'))
        .join('\n');
}

const escape = (word: string) => word.replace(/[$]/g, '\\$');
/** Where `name` is declared: a function, class, constant, type, interface, enum, member or C function. */
const declares = (text: string, name: string) => new RegExp(
    `(?:\\b(?:function|class|const|let|var|type|interface|enum|namespace)\\s+${escape(name)}\\b)`
    + `|(?:^|[\\s{,;(])(?:(?:readonly|static|async|get|set|public|private|protected|abstract|declare)\\s+)*#?${escape(name)}\\??\\s*[(:<=]`
    + `|(?:^|[\\s{,])['"]?${escape(name)}['"]?\\s*:`, 'm').test(text);
/** Whether `name` is exported from a module: `export const name`, `export { name }`, `export function name`. */
const exports = (text: string, name: string) => new RegExp(
    `\\bexport\\s+(?:declare\\s+)?(?:default\\s+)?(?:async\\s+)?(?:function\\*?|class|const|let|var|type|interface|enum|abstract\\s+class)\\s+${escape(name)}\\b`
    + `|\\bexport\\s*(?:type\\s*)?\\{[^}]*\\b${escape(name)}\\b[^}]*\\}`, 'm').test(text);

export interface Mention { text: string; line: number }

/** What a document names in backticks, and the source files its fenced diagrams name. */
export function backticked(markdown: string): Mention[] {
    const mentions: Mention[] = [];
    let fenced = false;
    for (const [index, line] of markdown.split('\n').entries()) {
        if (line.trimStart().startsWith('```')) {
            fenced = !fenced;
            continue;
        }
        if (fenced) {
            for (const match of line.matchAll(/(?<![\w/.-])([\w-]+(?:\/[\w.-]+)*\/[\w.-]+\.tsx?)\b/g)) mentions.push({ text: match[1] ?? '', line: index + 1 });
            continue;
        }
        for (const match of line.matchAll(/`([^`]+)`/g)) mentions.push({ text: match[1] ?? '', line: index + 1 });
    }
    return mentions;
}

export type Kind = 'path' | 'file name' | 'script' | 'rpc' | 'identifier' | 'env' | 'word' | 'other';

/** What a backticked mention is, by its form. */
export function kindOf(text: string): Kind {
    if (/^npm (run \S+|test)$/.test(text)) return 'script';
    if (/^[A-Z][A-Z0-9_]+=\S+$/.test(text)) return 'env';
    if (/^[\w.-]+(\/[\w.-]+)+\/?$|^[\w.-]+\/$/.test(text)) return 'path';
    if (/^[\w-]+\.(tsx?|json|md|patch|cjs|js)$/.test(text)) return 'file name';
    if (/^[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/.test(text) && !/\(\)$/.test(text)) return 'rpc';
    if (/^[A-Za-z_$][\w$]*(\.[A-Za-z_$#][\w$]*)*(\(.*\))?(\[.*)?(\.\w+)*$/.test(text)) return /^[a-z][a-z0-9_:]*$/.test(text) ? 'word' : 'identifier';
    return 'other';
}

/** The identifier chain a mention names: `ChatService.send()` → ['ChatService', 'send']; `rpc.request('x')` → ['rpc', 'request']. */
export function chainOf(text: string): string[] {
    return (text.split(/[([]/)[0] ?? '').split('.').filter((part) => part.length > 0);
}

describe('docs/ARCHITECTURE.md names what exists', () => {
    const doc = 'docs/ARCHITECTURE.md';
    const mentions = backticked(read(doc));
    const sources = sourceFiles();
    const typings = libraryTypings();
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const allSource = [...sources.values()].join('\n');
    const where = (mention: Mention) => `${doc}:${mention.line} \`${mention.text}\``;

    test('the mentions were read and sorted', () => {
        assert.ok(mentions.length > 150, `${mentions.length} mentions`);
        assert.deepEqual(backticked('```\n  engine/host.ts  the host\n```\n`loadModel()` (`engine/load.ts`)').map((m) => m.text), ['engine/host.ts', 'loadModel()', 'engine/load.ts']);
        assert.deepEqual(['engine/load.ts', 'bench/', 'loadModel()', 'ChatService.send()', 'KV_CACHE_TYPES', 'chat.send', 'npm run ask', 'HEADROOM_REQUIRE_NATIVE=1', 'q4_0', 'extractWorker.ts']
            .map(kindOf), ['path', 'path', 'identifier', 'identifier', 'identifier', 'rpc', 'script', 'env', 'word', 'file name']);
        assert.deepEqual(chainOf('useSettingsStore.update({ kvMode: \'budget\' })'), ['useSettingsStore', 'update']);
        assert.deepEqual(chainOf('requests[\'chat.send\'].params'), ['requests']);
        assert.equal(declares('export function loadModel(options) {', 'loadModel'), true);
        assert.equal(declares('const other = 1;', 'loadModel'), false);
        assert.equal(exports('export { modelSha256, sha256OfFile } from', 'sha256OfFile'), true);
        assert.equal(exports('function hidden() {}', 'hidden'), false);
    });

    test('every path it names exists', () => {
        const missing = mentions.filter((m) => kindOf(m.text) === 'path' && !existsSync(path.join(root, m.text))).map(where);
        assert.deepEqual(missing, []);
    });

    test('every file it names by its bare name exists somewhere in the source', () => {
        const names = new Set([...sources.keys()].map((file) => path.basename(file)));
        const missing = mentions.filter((m) => kindOf(m.text) === 'file name' && !names.has(m.text)).map(where);
        assert.deepEqual(missing, []);
    });

    test('every npm script it names is in package.json', () => {
        const missing = mentions.filter((m) => kindOf(m.text) === 'script')
            .filter((m) => !scripts.includes(m.text === 'npm test' ? 'test' : m.text.replace(/^npm run /, ''))).map(where);
        assert.deepEqual(missing, []);
    });

    test('every RPC method or event it names is in the contract', () => {
        const contract = [...sources].filter(([file]) => file.startsWith(`common${path.sep}`)).map(([, text]) => text).join('\n');
        const missing = mentions.filter((m) => kindOf(m.text) === 'rpc')
            .filter((m) => !contract.includes(`'${m.text}'`) && !declares(allSource, chainOf(m.text).at(-1) ?? '')).map(where);
        assert.deepEqual(missing, []);
    });

    /** Why an identifier mention does not resolve, or null when it does. */
    const unresolved = (text: string): string | null => {
        const [head = '', ...members] = chainOf(text);
        const exported = [...sources.values()].filter((source) => exports(source, head));
        const inLibrary = exports(typings, head) || declares(typings, head);
        // An error code or enum value (`BAD_REQUEST`) is a quoted member of its enum.
        if (/^[A-Z][A-Z0-9_]+$/.test(head) && members.length === 0 && allSource.includes(`'${head}'`)) return null;
        // A lower-case head may be an instance (`rpc`) or a module's own function (`historyOf`): declared somewhere, members anywhere.
        const instance = exported.length === 0 && !inLibrary && /^[a-z]/.test(head) && declares(allSource, head);
        if (exported.length === 0 && !inLibrary && !instance) return `${head} is declared nowhere`;
        const texts = /^[a-z]/.test(head) ? [allSource, typings] : [...exported, ...(inLibrary ? [typings] : [])];
        const member = members.find((name) => !texts.some((source) => declares(source, name)));
        return member == null ? null : `no member ${member} where ${head} is`;
    };

    test('an identifier that is not there is found missing', () => {
        assert.equal(unresolved('loadModel()'), null);
        assert.equal(unresolved('ChatService.send()'), null);
        assert.equal(unresolved('LlamaChatSession.promptWithMeta()'), null, 'node-llama-cpp\'s own API');
        assert.match(unresolved('noSuchLoader()') ?? '', /declared nowhere/);
        assert.match(unresolved('ChatService.noSuchMethod()') ?? '', /no member noSuchMethod/);
        assert.match(unresolved('NO_SUCH_CONSTANT') ?? '', /declared nowhere/);
    });

    test('every identifier it names is declared, and exported where it is the code\'s own', () => {
        const problems = mentions.filter((m) => kindOf(m.text) === 'identifier')
            .flatMap((m) => {
                const why = unresolved(m.text);
                return why == null ? [] : [`${where(m)}: ${why}`];
            });
        assert.deepEqual(problems, []);
    });

    test('every variable it sets names one the code reads', () => {
        const missing = mentions.filter((m) => kindOf(m.text) === 'env').filter((m) => !allSource.includes(m.text.split('=')[0] ?? '')).map(where);
        assert.deepEqual(missing, []);
    });

    test('every plain word it quotes is a value the code uses', () => {
        const missing = mentions.filter((m) => kindOf(m.text) === 'word')
            .filter((m) => !allSource.includes(`'${m.text}'`) && !allSource.includes(`"${m.text}"`) && !declares(allSource, m.text) && !scripts.includes(m.text)).map(where);
        assert.deepEqual(missing, []);
    });
});
