// One home for user data (common/paths.ts): every kind's place on each platform, and the once-only
// move of what earlier versions kept elsewhere (backend/paths.ts), through real SQLite and files.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { HeadroomDatabase } from '../../backend/database.ts';
import { moveLegacyData, userDataPaths } from '../../backend/paths.ts';
import { dataPaths, legacyDataFolders, type MachinePlaces } from '../../common/paths.ts';

const scratch = await mkdtemp(path.join(os.tmpdir(), 'headroom-paths-'));
after(() => rm(scratch, { recursive: true, force: true }));

describe('where each kind of data lives', () => {
    test('Linux: XDG folders, absolute variables only', () => {
        assert.deepEqual(dataPaths({ home: '/home/ada', env: {}, platform: 'linux' }), {
            chats: '/home/ada/.local/share/headroom/headroom.sqlite',
            profiles: '/home/ada/.local/share/headroom/head-profiles',
            models: '/home/ada/.local/share/headroom/models',
            snapshots: '/home/ada/.cache/headroom/snapshots',
            modelHashes: '/home/ada/.cache/headroom/model-hashes.json',
            logs: '/home/ada/.local/state/headroom/logs',
        });
        const xdg = dataPaths({ home: '/home/ada', env: { XDG_DATA_HOME: '/data', XDG_CACHE_HOME: '/cache', XDG_STATE_HOME: '/state', XDG_CONFIG_HOME: '/config' }, platform: 'linux' });
        assert.deepEqual([xdg.chats, xdg.models, xdg.snapshots, xdg.logs], ['/data/headroom/headroom.sqlite', '/data/headroom/models', '/cache/headroom/snapshots', '/state/headroom/logs']);
        assert.equal(dataPaths({ home: '/home/ada', env: { XDG_DATA_HOME: 'relative', XDG_CACHE_HOME: '' }, platform: 'linux' }).chats, '/home/ada/.local/share/headroom/headroom.sqlite');
    });

    test('macOS: Application Support, Caches and Logs', () => {
        const mac = dataPaths({ home: '/Users/ada', env: { XDG_DATA_HOME: '/ignored' }, platform: 'darwin' });
        assert.deepEqual(mac, {
            chats: '/Users/ada/Library/Application Support/Headroom/headroom.sqlite',
            profiles: '/Users/ada/Library/Application Support/Headroom/head-profiles',
            models: '/Users/ada/Library/Application Support/Headroom/models',
            snapshots: '/Users/ada/Library/Caches/Headroom/snapshots',
            modelHashes: '/Users/ada/Library/Caches/Headroom/model-hashes.json',
            logs: '/Users/ada/Library/Logs/Headroom',
        });
    });

    test('Windows: %APPDATA% for what roams, %LOCALAPPDATA% for this machine\'s', () => {
        const env = { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming', LOCALAPPDATA: 'D:\\Local' };
        assert.deepEqual(dataPaths({ home: 'C:\\Users\\ada', env, platform: 'win32' }), {
            chats: 'C:\\Users\\ada\\AppData\\Roaming\\Headroom\\headroom.sqlite',
            profiles: 'C:\\Users\\ada\\AppData\\Roaming\\Headroom\\head-profiles',
            models: 'D:\\Local\\Headroom\\models',
            snapshots: 'D:\\Local\\Headroom\\Cache\\snapshots',
            modelHashes: 'D:\\Local\\Headroom\\Cache\\model-hashes.json',
            logs: 'D:\\Local\\Headroom\\Logs',
        });
        assert.equal(dataPaths({ home: 'C:\\Users\\ada', env: {}, platform: 'win32' }).models, 'C:\\Users\\ada\\AppData\\Local\\Headroom\\models');
    });

    test('--data-dir holds the chats and what belongs to them; the variables move profiles and hashes', () => {
        const own = dataPaths({ home: '/home/ada', env: {}, platform: 'linux' }, '/tmp/run');
        assert.deepEqual([own.chats, own.snapshots, own.modelHashes, own.profiles], ['/tmp/run/headroom.sqlite', '/tmp/run/snapshots', '/tmp/run/model-hashes.json', '/home/ada/.local/share/headroom/head-profiles']);
        const moved = dataPaths({ home: '/home/ada', env: { HEADROOM_PROFILE_DIR: '/p', HEADROOM_MODEL_HASHES: '/h.json' }, platform: 'linux' });
        assert.deepEqual([moved.profiles, moved.modelHashes], ['/p', '/h.json']);
    });

    test('earlier versions\' folders: the desktop app\'s userData and serve\'s, where they are not today\'s', () => {
        assert.deepEqual(legacyDataFolders({ home: '/home/ada', env: {}, platform: 'linux' }), ['/home/ada/.config/Headroom']);
        assert.deepEqual(legacyDataFolders({ home: '/Users/ada', env: {}, platform: 'darwin' }), ['/Users/ada/.local/share/headroom']);
        assert.deepEqual(legacyDataFolders({ home: 'C:\\Users\\ada', env: {}, platform: 'win32' }), ['C:\\Users\\ada\\.local\\share\\headroom']);
    });
});

/** A fake home on this machine, laid out as Linux lays it out. */
async function home(name: string): Promise<MachinePlaces> {
    const folder = path.join(scratch, name);
    await mkdir(folder, { recursive: true });
    return { home: folder, env: {}, platform: 'linux' };
}

/** A database as an earlier version left it: one chat with a message, a document, a setting and a KV snapshot. */
function earlierDatabase(file: string, title: string, snapshotDir: string): string {
    const db = new HeadroomDatabase(file);
    const chat = db.createChat(title);
    db.addMessage(chat.id, 'user', `question in ${title}`, 'done');
    db.addDocument(chat.id, { name: `${title}.txt`, kind: 'text', sizeBytes: 5, pages: null, text: 'hello', warnings: [] });
    db.settings.set('contextSize', title === 'desktop' ? 4096 : 2048);
    db.setSnapshot(chat.id, { file: path.join(snapshotDir, `${chat.id}.kvstate`), modelKey: 'm', prefixHash: 'p', tokens: 600, prefillMs: 10 });
    db.close();
    return chat.id;
}

describe('data from earlier versions is moved once', () => {
    test('the desktop app\'s chats join serve\'s in one database, with their snapshots and profiles; nothing is left behind, and a second start moves nothing', async () => {
        const places = await home('both');
        const paths = userDataPaths(undefined, places);
        const legacy = path.join(places.home, '.config', 'Headroom');
        await mkdir(path.join(legacy, 'snapshots'), { recursive: true });
        await mkdir(path.join(legacy, 'head-profiles'), { recursive: true });
        const desktopChat = earlierDatabase(path.join(legacy, 'headroom.sqlite'), 'desktop', path.join(legacy, 'snapshots'));
        await writeFile(path.join(legacy, 'snapshots', `${desktopChat}.kvstate`), 'kv');
        await writeFile(path.join(legacy, 'snapshots', `${desktopChat}.kvstate.header`), 'header');
        await writeFile(path.join(legacy, 'head-profiles', 'abc.json'), '{}');
        await writeFile(path.join(legacy, 'model-hashes.json'), '[]');
        const serveChat = earlierDatabase(paths.chats, 'serve', path.dirname(paths.snapshots));

        const lines = moveLegacyData(paths, places);
        assert.deepEqual(lines, [`Headroom moved its data from ${legacy} to ${path.dirname(paths.chats)} (1 chat, 1 head profile); 2 KV snapshots to ${paths.snapshots}.`]);

        const db = new HeadroomDatabase(paths.chats);
        assert.deepEqual(db.listChats().map((chat) => chat.title).sort(), ['desktop', 'serve']);
        assert.deepEqual(db.listMessages(desktopChat).map((m) => m.text), ['question in desktop']);
        assert.equal(db.documentTexts(desktopChat)[0]?.name, 'desktop.txt');
        assert.equal(db.settings.get('contextSize'), 2048, 'the settings already here are kept');
        assert.equal(db.getSnapshot(desktopChat)?.file, path.join(paths.snapshots, `${desktopChat}.kvstate`), 'the snapshot is recorded where it went');
        assert.ok(db.getSnapshot(serveChat) != null);
        db.close();
        assert.equal(await readFile(path.join(paths.snapshots, `${desktopChat}.kvstate`), 'utf8'), 'kv');
        assert.equal(await readFile(path.join(paths.profiles, 'abc.json'), 'utf8'), '{}');
        assert.equal(await readFile(paths.modelHashes, 'utf8'), '[]');
        assert.deepEqual(readdirSync(legacy), [], 'nothing is left in the old folder (Electron keeps its own files there)');

        assert.deepEqual(moveLegacyData(paths, places), [], 'once');
    });

    test('with no database here yet, the earlier one\'s chats and settings come as they were', async () => {
        const places = await home('first');
        const paths = userDataPaths(undefined, places);
        const legacy = path.join(places.home, '.config', 'Headroom');
        const chat = earlierDatabase(path.join(legacy, 'headroom.sqlite'), 'desktop', path.join(legacy, 'snapshots'));
        assert.deepEqual(moveLegacyData(paths, places), [`Headroom moved its data from ${legacy} to ${path.dirname(paths.chats)} (1 chat).`]);
        const db = new DatabaseSync(paths.chats, { readOnly: true });
        assert.deepEqual(db.prepare('SELECT id FROM chats').all().map((row) => row.id), [chat]);
        assert.equal(db.prepare("SELECT value FROM settings WHERE key = 'contextSize'").get()?.value, '4096');
        db.close();
    });

    test('nothing is lost when a move cannot happen: another Headroom holds the old folder, or its database is newer', async () => {
        const places = await home('refused');
        const paths = userDataPaths(undefined, places);
        const legacy = path.join(places.home, '.config', 'Headroom');
        earlierDatabase(path.join(legacy, 'headroom.sqlite'), 'desktop', path.join(legacy, 'snapshots'));
        await writeFile(path.join(legacy, 'headroom.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), startedAt: Date.now() }));
        const [held] = moveLegacyData(paths, places);
        assert.match(held ?? '', new RegExp(`^Headroom's data in ${legacy} was not moved to .*It will be moved when that one has closed\\.$`));
        assert.ok(existsSync(path.join(legacy, 'headroom.sqlite')));
        await rm(path.join(legacy, 'headroom.lock'));

        const newer = new DatabaseSync(path.join(legacy, 'headroom.sqlite'));
        newer.exec('PRAGMA user_version = 999');
        newer.close();
        const [failed] = moveLegacyData(paths, places);
        assert.match(failed ?? '', /^Headroom could not move its data from .* \(.*newer Headroom.*\); what was not moved is still in .*, and the move is tried again next time\.$/);
        assert.ok(existsSync(path.join(legacy, 'headroom.sqlite')), 'the old database stays');
        assert.equal(existsSync(path.join(legacy, 'headroom.lock')), false, 'the lock taken for the move is given back');
    });
});
