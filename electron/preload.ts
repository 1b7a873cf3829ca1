// Runs sandboxed in the window. Exposes a message channel and nothing else: the page
// gets no Node, no ipcRenderer, only send/receive of contract envelopes (checked by main).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { RPC_CHANNEL } from './preloadChannel.ts';

contextBridge.exposeInMainWorld('headroom', {
    send(envelope: unknown) {
        ipcRenderer.send(RPC_CHANNEL, envelope);
    },
    onMessage(listener: (message: unknown) => void) {
        const handler = (_event: IpcRendererEvent, message: unknown) => listener(message);
        ipcRenderer.on(RPC_CHANNEL, handler);
        return () => {
            ipcRenderer.removeListener(RPC_CHANNEL, handler);
        };
    },
});
