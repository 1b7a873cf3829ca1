// The desktop shell's security rules as plain functions and values, so they are tested under
// Node (the Electron binary is not needed to check them): which page is ours, where a window may
// navigate or open, which permissions a page gets (none), and the window's web preferences.
// main.ts wires them to Electron. The fuses are set where installers are made: "electronFuses"
// in package.json's electron-builder config (RunAsNode, NODE_OPTIONS and --inspect off).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OwnPage {
    /** Vite's dev server while developing (`npm start`); absent in a built app. */
    devServerUrl?: string | undefined;
    /** The folder the built renderer is loaded from (file://). */
    rendererDir: string;
    platform?: NodeJS.Platform;
}

/**
 * Whether a URL is the app's own page. For file:// URLs the comparison is between paths, not
 * strings: on Windows the URL's "/C:/…" is "C:\…", and a "#" or "%" in the install folder is
 * escaped in the URL.
 */
export function isOwnPage(url: string, { devServerUrl, rendererDir, platform = process.platform }: OwnPage): boolean {
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        return false;
    }
    if (devServerUrl != null) return parsed.origin === new URL(devServerUrl).origin;
    if (parsed.protocol !== 'file:' || parsed.host !== '') return false;
    const windows = platform === 'win32';
    const paths = windows ? path.win32 : path.posix;
    let file: string;
    try {
        file = fileURLToPath(parsed, { windows });
    } catch {
        return false;
    }
    const relative = paths.relative(rendererDir, file);
    return relative !== '' && relative.split(paths.sep)[0] !== '..' && !paths.isAbsolute(relative);
}

/** Links a reply may open, in the user's own browser or mail client; the app's window never navigates to them. */
export function externalUrl(url: string): string | null {
    try {
        const parsed = new URL(url);
        return ['http:', 'https:', 'mailto:'].includes(parsed.protocol) ? parsed.href : null;
    } catch {
        return null;
    }
}

/** The app asks for no permission (camera, notifications, clipboard reading…): every check and request is refused. */
export const permissionCheck = (): boolean => false;
export const permissionRequest = (_contents: unknown, _permission: string, callback: (granted: boolean) => void): void => callback(false);

/** The window's preferences: isolated, sandboxed, no Node; developer tools only while developing. */
export function windowPreferences(preload: string, packaged: boolean) {
    return {
        preload,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        webviewTag: false,
        navigateOnDragDrop: false,
        safeDialogs: true,
        devTools: !packaged,
        spellcheck: true,
    } as const;
}
