// Launches the system Chromium through playwright-core. Playwright never downloads a
// browser here: executablePath points at Debian's package, and Playwright gives every
// launch a fresh temporary --user-data-dir of its own (removed when the browser closes).
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SIGVER_E2E_CHROMIUM || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  // Playwright adds --headless itself (headless: true below).
  '--no-sandbox', // CI runs as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--use-fake-device-for-media-stream', // no real camera is touched (see Peer.open)
  // WebRTC ignores the loopback interface unless told otherwise; the peers must talk over
  // 127.0.0.1 only.
  '--allow-loopback-in-peer-connection',
  // run.sh adds flags for wss:// runs (trust of the test CA's key), space separated.
  ...(process.env.SIGVER_E2E_CHROMIUM_ARGS || '').split(' ').filter(Boolean),
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    // runner.mjs handles these signals itself; its process.exit() lets Playwright kill
    // the browsers it launched on the way out.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}
