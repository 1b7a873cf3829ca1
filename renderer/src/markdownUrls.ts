// Which URLs a reply's Markdown may use. Model output is untrusted text: a link may only leave
// for the web or a mail client, and an image may only be inline data (never fetched). Anything
// else (relative, protocol-relative "//host/a.png", file:, javascript:…) is dropped: under
// Electron's file:// page "//host/a.png" would be file://host/a.png, an SMB fetch on Windows.
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** The URL only when it is absolute and of an allowed kind. */
function absolute(url: string): URL | null {
    try {
        return new URL(url.trim()); // no base: a relative URL does not parse
    } catch {
        return null;
    }
}

export function safeLinkUrl(url: string): string | null {
    const parsed = absolute(url);
    return parsed != null && LINK_PROTOCOLS.has(parsed.protocol) ? parsed.href : null;
}

export function safeImageUrl(url: string): string | null {
    const parsed = absolute(url);
    return parsed != null && parsed.protocol === 'data:' && /^image\/[\w.+-]+[;,]/i.test(parsed.pathname) ? parsed.href : null;
}

/** react-markdown's urlTransform: images keep data: URLs only, everything else links' rules. */
export function markdownUrl(url: string, key: string, node: { tagName: string }): string | null {
    return node.tagName === 'img' && key === 'src' ? safeImageUrl(url) : safeLinkUrl(url);
}
