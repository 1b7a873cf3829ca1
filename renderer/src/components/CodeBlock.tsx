import { useEffect, useState } from 'react';

type Highlighter = (code: string, language: string) => string | null;
let highlighter: Promise<Highlighter> | null = null;

/** highlight.js with a handful of common languages, fetched the first time code is shown. */
function loadHighlighter(): Promise<Highlighter> {
    highlighter ??= (async () => {
        const [{ default: hljs }, ...languages] = await Promise.all([
            import('highlight.js/lib/core'),
            import('highlight.js/lib/languages/javascript'),
            import('highlight.js/lib/languages/typescript'),
            import('highlight.js/lib/languages/python'),
            import('highlight.js/lib/languages/bash'),
            import('highlight.js/lib/languages/json'),
            import('highlight.js/lib/languages/rust'),
            import('highlight.js/lib/languages/cpp'),
            import('highlight.js/lib/languages/go'),
            import('highlight.js/lib/languages/xml'),
            import('highlight.js/lib/languages/css'),
            import('highlight.js/lib/languages/sql'),
            import('highlight.js/lib/languages/yaml'),
        ]);
        const names = ['javascript', 'typescript', 'python', 'bash', 'json', 'rust', 'cpp', 'go', 'xml', 'css', 'sql', 'yaml'];
        names.forEach((name, i) => {
            const language = languages[i];
            if (language != null) hljs.registerLanguage(name, language.default);
        });
        return (code, language) => (hljs.getLanguage(language) != null ? hljs.highlight(code, { language, ignoreIllegals: true }).value : null);
    })();
    return highlighter;
}

/** A fenced code block: plain at once, highlighted as soon as the highlighter has loaded. */
export function CodeBlock({ code, language }: { code: string; language: string }) {
    const [html, setHtml] = useState<string | null>(null);
    const [copied, setCopied] = useState(false);
    useEffect(() => {
        let live = true;
        if (language !== '') void loadHighlighter().then((highlight) => live && setHtml(highlight(code, language)));
        return () => {
            live = false;
        };
    }, [code, language]);
    const copy = () => {
        void navigator.clipboard?.writeText(code).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1200);
        });
    };
    return (
        <div className="code-block">
            <div className="code-head">
                <span>{language || 'text'}</span>
                <button type="button" className="link-button" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
            </div>
            {/* highlight.js escapes the code it returns; only its own span markup is added. */}
            {html != null
                ? <pre><code className="hljs" dangerouslySetInnerHTML={{ __html: html }} /></pre>
                : <pre><code>{code}</code></pre>}
        </div>
    );
}
