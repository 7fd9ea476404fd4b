/**
 * Headless Chromium (Debian's package) driven by playwright-core. Tests that need a browser skip with a clear
 * message when no Chromium is installed; scripts/test.sh installs it, so CI always runs them.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = [process.env.ROOMBUS_TEST_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];

export const chromiumPath = CANDIDATES.find((path): path is string => path !== undefined && existsSync(path));

export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  if (chromiumPath === undefined) throw new Error("no Chromium found: install Debian's chromium package");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // This machine has no network beyond loopback: keep Chromium from reaching out at start.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}
