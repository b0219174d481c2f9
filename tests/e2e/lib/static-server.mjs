// A tiny HTTP server on 127.0.0.1 that serves the test pages, their scripts and the netflux
// browser bundles. Only the fixed routes below exist: no file-system path comes from a URL.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pageDir = path.join(here, '..', 'page');
const require = createRequire(import.meta.url);

// netflux 3.0.0 ships a self-contained UMD build (rxjs and protobufjs inlined) that
// defines window.netflux; its "browser" entry is ESM with bare imports a page cannot load.
const netfluxBundle = path.join(path.dirname(require.resolve('netflux/package.json')),
  'dist', 'netflux.umd.js');
// netflux 4.3.1 (npm alias netflux4): of its builds only the ES5 UMD one inlines rxjs and
// protobufjs; it defines window.netflux the same way.
const netflux4Bundle = path.join(path.dirname(require.resolve('netflux4/package.json')),
  'dist', 'netflux.browser.es5.umd.js');

const routes = {
  '/index.html': [path.join(pageDir, 'index.html'), 'text/html; charset=utf-8'],
  '/index4.html': [path.join(pageDir, 'index4.html'), 'text/html; charset=utf-8'],
  '/instrument.js': [path.join(pageDir, 'instrument.js'), 'text/javascript; charset=utf-8'],
  '/peer.js': [path.join(pageDir, 'peer.js'), 'text/javascript; charset=utf-8'],
  '/netflux.js': [netfluxBundle, 'text/javascript; charset=utf-8'],
  '/netflux4.js': [netflux4Bundle, 'text/javascript; charset=utf-8'],
};

// Resolves to { url, close() } once listening on an ephemeral loopback port.
export async function startStaticServer() {
  const files = new Map();
  for (const [route, [file, type]] of Object.entries(routes)) {
    files.set(route, { body: await readFile(file), type });
  }
  const server = createServer((req, res) => {
    const route = new URL(req.url, 'http://x').pathname;
    if (route === '/favicon.ico') {
      res.writeHead(204).end(); // keeps a "404" out of the browser console logs
      return;
    }
    const file = files.get(route);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    res.end(file.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
