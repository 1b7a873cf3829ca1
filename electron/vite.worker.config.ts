// The document reader's worker (backend/documents/extractWorker.ts), an ES module loaded by
// utilityProcess. pdf.js stays external: it loads its own worker module from its package folder.
import { defineConfig } from 'vite';

export default defineConfig({
    build: {
        lib: {
            entry: 'backend/documents/extractWorker.ts',
            formats: ['es'],
            fileName: () => 'extractWorker.js',
        },
        rollupOptions: { external: ['pdfjs-dist', /^pdfjs-dist\//, /^node:/] },
    },
});
