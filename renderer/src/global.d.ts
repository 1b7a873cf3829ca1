// What the preload script exposes; absent in web mode.
interface HeadroomPreload {
    send: (envelope: unknown) => void;
    onMessage: (listener: (message: unknown) => void) => () => void;
}

interface Window {
    headroom?: HeadroomPreload;
}

declare module '*.css';
