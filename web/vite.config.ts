/// <reference types="vitest/config" />
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// The console is built straight into the Go package that embeds it.
const outDir = fileURLToPath(new URL("../internal/webui/dist", import.meta.url));

// emptyOutDir removes dist/.gitkeep, which lets `go build` work without a
// web build; put it back.
function keepGitkeep(): Plugin {
  return {
    name: "runnel-keep-gitkeep",
    apply: "build",
    closeBundle() {
      writeFileSync(resolve(outDir, ".gitkeep"), "");
    },
  };
}

export default defineConfig({
  plugins: [react(), keepGitkeep()],
  build: {
    outDir,
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` proxies the API to a local `runnel cluster`.
    proxy: { "/api": process.env.RUNNEL_API ?? "http://127.0.0.1:5115" },
  },
  test: {
    environment: "happy-dom",
    globals: true,
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    // The machines are small and busy; a slow test is not a failed one.
    testTimeout: 20_000,
  },
});
