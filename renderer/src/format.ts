// How numbers read in the UI.
export function formatBytes(bytes: number): string {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatTokens(tokens: number): string {
    return tokens.toLocaleString('en-US');
}

export function percent(part: number, whole: number): number {
    return whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)) : 0;
}

/** A time to wait, in words people use for estimates: "under a minute", "about 3 minutes", "about 1 h 20 min". */
export function formatDuration(seconds: number): string {
    if (seconds < 45) return 'under a minute';
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `about ${Math.max(1, minutes)} minute${minutes === 1 ? '' : 's'}`;
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return `about ${hours} h${rest === 0 ? '' : ` ${rest} min`}`;
}
