import { defineConfig } from "vite";

// `tessera serve` embeds `dist/` in the binary (src/web/assets.rs lists every file) and
// serves it under /account/. Fixed file names keep that list short and stable; the
// server sends an ETag so browsers revalidate instead of caching stale code.
export default defineConfig({
  base: "/account/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The page must run under a strict Content-Security-Policy: no inline scripts.
    modulePreload: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    rolldownOptions: {
      output: {
        entryFileNames: "assets/account.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/account[extname]",
      },
    },
  },
});
