// Electron main process: one window, locked down, talking to the backend over the IPC
// contract. The engine runs in a utilityProcess (electronHost.ts), and so does reading
// documents (electronExtractor.ts): nothing a model or a file does can take the window down.
// The rules themselves (own page, links, permissions, preferences) are in security.ts.
import path from 'node:path';
import { app, BrowserWindow, dialog, ipcMain, session, shell, type WebContents } from 'electron';
import { createBackend, type Backend } from '../backend/backend.ts';
import { logStderrTo } from '../backend/logFile.ts';
import { userDataPaths } from '../backend/paths.ts';
import { errorMessage, HeadroomError } from '../common/errors.ts';
import { dispatch } from '../common/rpc.ts';
import { uiContract } from '../common/uiContract.ts';
import { spawnElectronExtractor } from './electronExtractor.ts';
import { spawnElectronHost } from './electronHost.ts';
import { RPC_CHANNEL } from './preloadChannel.ts';
import { externalUrl, isOwnPage, permissionCheck, permissionRequest, windowPreferences } from './security.ts';

declare const MAIN_WINDOW_VITE_DEV_SERVER_URL: string | undefined;
declare const MAIN_WINDOW_VITE_NAME: string;

let backend: Backend | null = null;
let mainWindow: BrowserWindow | null = null;

const ownPage = { devServerUrl: MAIN_WINDOW_VITE_DEV_SERVER_URL, rendererDir: path.join(__dirname, '..', 'renderer') };

function lockDown(contents: WebContents): void {
    // No navigation away from the app; http(s) and mailto links open outside it instead.
    const stay = (event: { preventDefault: () => void }, url: string) => {
        if (!isOwnPage(url, ownPage)) event.preventDefault();
    };
    contents.on('will-navigate', stay);
    contents.on('will-redirect', stay);
    contents.setWindowOpenHandler(({ url }) => {
        const external = externalUrl(url);
        if (external != null) void shell.openExternal(external);
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
        webPreferences: windowPreferences(path.join(__dirname, 'preload.cjs'), app.isPackaged),
    });
    window.once('ready-to-show', () => window.show());
    if (MAIN_WINDOW_VITE_DEV_SERVER_URL != null) void window.loadURL(MAIN_WINDOW_VITE_DEV_SERVER_URL);
    else void window.loadFile(path.join(__dirname, '..', 'renderer', MAIN_WINDOW_VITE_NAME, 'index.html'));
    return window;
}

function serveRenderer(current: Backend): void {
    // Per page: reading a document it sent stops when it reloads, navigates or closes.
    const pages = new Map<WebContents, AbortController>();
    const pageSignal = (contents: WebContents) => {
        const current = pages.get(contents);
        if (current != null) return current.signal;
        const controller = new AbortController();
        pages.set(contents, controller);
        const gone = () => {
            controller.abort();
            pages.delete(contents);
            contents.off('did-start-navigation', navigated);
            contents.off('destroyed', gone);
        };
        const navigated = (details: { isMainFrame: boolean; isSameDocument: boolean }) => {
            if (details.isMainFrame && !details.isSameDocument) gone();
        };
        contents.on('did-start-navigation', navigated);
        contents.on('destroyed', gone);
        return controller.signal;
    };
    ipcMain.on(RPC_CHANNEL, (event, message: unknown) => {
        // Only our own page may talk to the backend.
        if (event.senderFrame == null || !isOwnPage(event.senderFrame.url, ownPage)) return;
        void dispatch(uiContract, current.handlers, message, { signal: pageSignal(event.sender) }).then((response) => {
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

/** Settings → Where your data lives: the window asks over the preload channel; only the backend's own folders are opened. */
async function openFolder(folder: string): Promise<void> {
    const failure = await shell.openPath(folder);
    if (failure !== '') throw new HeadroomError('INTERNAL', `${folder} could not be opened: ${failure}`);
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
        session.defaultSession.setPermissionCheckHandler(permissionCheck);
        session.defaultSession.setPermissionRequestHandler(permissionRequest);
        // Chats, profiles, models, caches and logs where common/paths.ts says (shared with `npm run
        // serve`); Electron's userData keeps only Chromium's own files.
        const paths = userDataPaths();
        logStderrTo(paths.logs);
        try {
            backend = createBackend({
                spawnHost: spawnElectronHost, spawnExtractor: spawnElectronExtractor, pickModelFile, openFolder, paths, moveLegacyData: true, packaged: app.isPackaged,
            });
            for (const line of backend.moved) process.stderr.write(`${line}\n`);
        } catch (error) {
            // Another Headroom (web mode) holds the data folder, or the database cannot be opened.
            dialog.showErrorBox('Headroom cannot start', errorMessage(error));
            app.quit();
            return;
        }
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
