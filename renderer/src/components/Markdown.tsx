import type { ReactNode } from 'react';
import Markdown from 'react-markdown';
import remarkGfm from 'remark-gfm';
import { markdownUrl } from '../markdownUrls.ts';
import { CodeBlock } from './CodeBlock.tsx';

/**
 * A reply as Markdown (GitHub flavour); raw HTML in it is shown as text, never run. Links go
 * only to http(s) and mailto, images only come from data: URLs (markdownUrls.ts); a dropped
 * link is shown as its text, a dropped image as its description.
 */
export function MarkdownText({ text }: { text: string }) {
    return (
        <Markdown
            remarkPlugins={[remarkGfm]}
            urlTransform={markdownUrl}
            components={{
                pre: ({ children }) => <>{children}</>,
                code: ({ className, children }) => {
                    const language = /language-([\w+-]+)/.exec(className ?? '')?.[1];
                    const code = textOf(children);
                    if (language == null && !code.includes('\n')) return <code className="inline-code">{children}</code>;
                    return <CodeBlock code={code.replace(/\n$/, '')} language={language ?? ''} />;
                },
                a: ({ href, children }) => (href == null || href === ''
                    ? <span className="dropped-link">{children}</span>
                    : <a href={href} target="_blank" rel="noreferrer noopener">{children}</a>),
                img: ({ src, alt }) => (typeof src !== 'string' || src === ''
                    ? <span className="dropped-image">{alt != null && alt !== '' ? `[image: ${alt}]` : '[image]'}</span>
                    : <img src={src} alt={alt ?? ''} />),
            }}
        >
            {text}
        </Markdown>
    );
}

/** The text of a code element's children (react-markdown gives it as strings). */
function textOf(children: ReactNode): string {
    if (typeof children === 'string' || typeof children === 'number') return String(children);
    return Array.isArray(children) ? children.map((child: ReactNode) => textOf(child)).join('') : '';
}
