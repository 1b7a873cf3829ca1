// Electron main process: one window, locked down, talking to the backend over the IPC
// contract. The engine itself runs in a utilityProcess (see electronHost.ts).
import path from 'node:path';
import { app, BrowserWindow, dialog, ipcMain, session, shell, type WebContents } from 'electron';
import { createBackend, type Backend } from '../backend/backend.ts';
import { spawnElectronHost } from './electronHost.ts';
import { dispatch } from '../common/rpc.ts';
import { RPC_CHANNEL } from './preloadChannel.ts';

declare const MAIN_WINDOW_VITE_DEV_SERVER_URL: string | undefined;
declare const MAIN_WINDOW_VITE_NAME: string;

let backend: Backend | null = null;
let mainWindow: BrowserWindow | null = null;

function isOwnPage(url: string): boolean {
    if (MAIN_WINDOW_VITE_DEV_SERVER_URL != null) return url.startsWith(MAIN_WINDOW_VITE_DEV_SERVER_URL);
    return url.startsWith('file://') && decodeURI(new URL(url).pathname).startsWith(path.join(__dirname, '..', 'renderer'));
}

function lockDown(contents: WebContents): void {
    // No navigation away from the app; http(s) links open in the user's browser instead.
    contents.on('will-navigate', (event, url) => {
        if (!isOwnPage(url)) event.preventDefault();
    });
    contents.setWindowOpenHandler(({ url }) => {
        if (/^https?:\/\//.test(url)) void shell.openExternal(url);
        return { action: 'deny' };
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
}

function createWindow(): BrowserWindow {
    const window = new BrowserWindow({
        width: 1280,
        height: 820,
        minWidth: 760,
        minHeight: 520,
        title: 'Headroom',
        show: false,
        backgroundColor: '#111318',
        webPreferences: {
            preload: path.join(__dirname, 'preload.cjs'),
            contextIsolation: true,
            sandbox: true,
            nodeIntegration: false,
            webSecurity: true,
            spellcheck: true,
        },
    });
    window.once('ready-to-show', () => window.show());
    if (MAIN_WINDOW_VITE_DEV_SERVER_URL != null) void window.loadURL(MAIN_WINDOW_VITE_DEV_SERVER_URL);
    else void window.loadFile(path.join(__dirname, '..', 'renderer', MAIN_WINDOW_VITE_NAME, 'index.html'));
    return window;
}

function serveRenderer(current: Backend): void {
    ipcMain.on(RPC_CHANNEL, (event, message: unknown) => {
        // Only our own page may talk to the backend.
        if (event.senderFrame == null || !isOwnPage(event.senderFrame.url)) return;
        void dispatch(current.handlers, message).then((response) => {
            if (!event.sender.isDestroyed()) event.sender.send(RPC_CHANNEL, response);
        });
    });
    current.subscribe((envelope) => {
        if (mainWindow != null && !mainWindow.isDestroyed()) mainWindow.webContents.send(RPC_CHANNEL, envelope);
    });
}

async function pickModelFile(): Promise<string | null> {
    const options = {
        title: 'Choose a GGUF model',
        properties: ['openFile' as const],
        filters: [{ name: 'GGUF models', extensions: ['gguf'] }],
    };
    const result = mainWindow != null ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : result.filePaths[0] ?? null;
}

if (!app.requestSingleInstanceLock()) {
    app.quit();
} else {
    app.on('second-instance', () => {
        if (mainWindow == null) return;
        if (mainWindow.isMinimized()) mainWindow.restore();
        mainWindow.focus();
    });
    app.on('web-contents-created', (_event, contents) => lockDown(contents));
    void app.whenReady().then(() => {
        // The app asks for no permissions (camera, notifications…); refuse them all.
        session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
        backend = createBackend({ spawnHost: spawnElectronHost, pickModelFile, dataDir: app.getPath('userData') });
        serveRenderer(backend);
        mainWindow = createWindow();
        app.on('activate', () => {
            if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
        });
    });
    app.on('window-all-closed', () => {
        if (process.platform !== 'darwin') app.quit();
    });
    app.on('will-quit', () => backend?.dispose());
}
