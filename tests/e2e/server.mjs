// Starts the real centralita binary on 127.0.0.1 with its own data dir, and a headless Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.CENTRALITA_BIN ?? join(root, 'target', 'debug', 'centralita');

export async function startServer({ args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'centralita-e2e-'));
  const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = [];
  const found = {};
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log.join('\n')}`)), 30_000);
    let buffer = '';
    child.stderr.on('data', (chunk) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const line of lines) {
        log.push(line);
        const listening = line.match(/listening on (https:\/\/[0-9.:\[\]]+)/);
        if (listening) found.base = listening[1];
        const setup = line.match(/(https:\/\/\S+\/invite#token=\S+)/);
        if (setup) found.setupLink = setup[1];
        if (found.base && found.setupLink) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log.join('\n')}`)));
  });
  // The setup link names localhost; the browser reaches the same server by its address.
  const setupLink = found.setupLink.replace(/^https:\/\/[^/]+/, found.base);
  return {
    base: found.base,
    setupLink,
    log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

// A browser context as a person with that language would have; fails the test on script errors.
export async function openPage(browser, locale) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    // HTTP error answers the page handles (a used link, a wrong password) are not problems;
    // anything else logged as an error (a script failure, a CSP violation) is.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  return { context, page, problems };
}
