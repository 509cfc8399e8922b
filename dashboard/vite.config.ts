import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The dashboard's build: `dashboard/` → `dist/dashboard`, served by the server under /dashboard
 * (server/http/dashboard.ts). Part of `npm run build`, which `npm ci` runs (`prepare`).
 * No plugin: Vite compiles TSX itself (React's automatic runtime).
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/dashboard/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/dashboard", import.meta.url)),
    emptyOutDir: true,
    // No inline scripts or styles (the server's CSP allows neither); no source maps served.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    rollupOptions: {
      // React Query marks its modules "use client" (for server components); meaningless in a plain SPA.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
});
