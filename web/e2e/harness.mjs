// Shared pieces of the end-to-end tests: a real `runnel cluster` on a
// random port with a temporary data directory, and Debian's chromium
// driven by playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const webDir = fileURLToPath(new URL("..", import.meta.url));
export const repoDir = resolve(webDir, "..");
export const outDir = join(webDir, "test-output");

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** The runnel binary: $RUNNEL_BIN, or bin/runnel built by `make build`. */
export function runnelBinary() {
  const bin = process.env.RUNNEL_BIN ? resolve(process.env.RUNNEL_BIN) : join(repoDir, "bin", "runnel");
  if (!existsSync(bin)) {
    throw new Error(`no runnel binary at ${bin}: run \`make build\` (after \`make web-build\`) or set RUNNEL_BIN`);
  }
  return bin;
}

/** Starts `runnel cluster` on 127.0.0.1:0; resolves when it listens. */
export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), "runnel-e2e-"));
  const child = spawn(runnelBinary(), ["cluster", "--http-addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "text"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const addr = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`runnel did not listen within 30 s; log:\n${log}`)), 30_000);
    const onData = (buf) => {
      log += buf.toString();
      const m = /msg=listening addr=(\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveAddr(m[1]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`runnel exited with ${code} before listening; log:\n${log}`));
    });
  });
  child.stdout.removeAllListeners("data");
  child.stderr.removeAllListeners("data");
  child.stdout.on("data", (b) => (log += b.toString()));
  child.stderr.on("data", (b) => (log += b.toString()));
  const url = `http://${addr}`;
  return {
    url,
    api: `${url}/api/v1`,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timeout = new Promise((r) => setTimeout(r, 10_000, "timeout"));
        if ((await Promise.race([exited, timeout])) === "timeout") {
          child.kill("SIGKILL");
          await exited;
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches headless chromium with a fresh profile (playwright wants the
 * profile as launchPersistentContext's argument, not as --user-data-dir).
 */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "runnel-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
  return {
    context,
    async stop() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function ensureOutDir() {
  mkdirSync(outDir, { recursive: true });
  return outDir;
}

/** A JSON request to the API, for set-up and checks around the UI. */
export async function apiJson(server, method, path, body) {
  const res = await fetch(server.api + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export function gitVersion() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoDir }).toString().trim();
  } catch {
    return "unknown";
  }
}
