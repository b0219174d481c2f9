// A reference for the mixed run, to tell a harness problem from a server one: no published
// server serves both generations, so this one listens on one port, decides each connection's
// generation by the client's first data message (protocol-v2.md, "One port, two
// generations": 08/12/1a are generation 2, anything else, or 300 ms of silence, generation 1)
// and then pipes it, unchanged, to its own sigver 18.0.0 (generation 1) or sigver 20.1.0
// (generation 2) on the same key. Nothing reaches the client before the decision.
//   SIGVER_E2E_GEN1_SERVER=.../sigver/server.js SIGVER_E2E_GEN2_SERVER=.../sigver/dist/server.js \
//     node dual-reference.cjs -h 127.0.0.1 -p PORT
// (the command line run.sh --node-sigver uses). Both servers are started here on free ports,
// and stopped when this process gets SIGTERM or SIGINT. `ws` comes from sigver 18's install.
'use strict';
const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const { createRequire } = require('node:module');

const DECISION_MS = 300;
const GENERATION_2_FIRST_BYTES = new Set([0x08, 0x12, 0x1a]);

const arg = (flag) => process.argv[process.argv.indexOf(flag) + 1];
const servers = { 1: process.env.SIGVER_E2E_GEN1_SERVER, 2: process.env.SIGVER_E2E_GEN2_SERVER };
if (!servers[1] || !servers[2] || !process.argv.includes('-p')) {
  console.error('usage: SIGVER_E2E_GEN1_SERVER=JS SIGVER_E2E_GEN2_SERVER=JS dual-reference.cjs -h HOST -p PORT');
  process.exit(2);
}
const { WebSocketServer, WebSocket } = createRequire(servers[1])('ws');

const children = [];
function stopAll() {
  for (const child of children) child.kill('SIGTERM');
  process.exit(0);
}
process.on('SIGTERM', stopAll);
process.on('SIGINT', stopAll);

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startBackend(generation) {
  const port = await freePort();
  const child = spawn(process.execPath, [servers[generation], '-h', '127.0.0.1', '-p', String(port)],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  child.on('exit', (code, signal) => {
    console.error(`generation ${generation} server exited (${signal || code})`);
    stopAll();
  });
  for (let i = 0; i < 100; i++) { // up to 10 s to listen
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`generation ${generation} server did not listen`);
}

// A close code the other side may send on (1005, 1006 and the like may not be sent).
const sendable = (code) => (code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000);

function serve(client, url, ports) {
  const early = [];
  let backend = null;
  const decide = (generation) => {
    clearTimeout(timer);
    console.log(`${url}: generation ${generation}`);
    backend = new WebSocket(`ws://127.0.0.1:${ports[generation]}${url}`, { perMessageDeflate: false });
    backend.on('open', () => early.splice(0).forEach(([data, binary]) => backend.send(data, { binary })));
    backend.on('message', (data, binary) => client.readyState === WebSocket.OPEN && client.send(data, { binary }));
    backend.on('close', (code, reason) => client.readyState === WebSocket.OPEN && client.close(sendable(code), reason));
    backend.on('error', () => client.terminate());
  };
  const timer = setTimeout(() => decide(1), DECISION_MS);
  client.on('message', (data, binary) => {
    if (!backend) decide(binary && data.length > 0 && GENERATION_2_FIRST_BYTES.has(data[0]) ? 2 : 1);
    if (backend.readyState === WebSocket.OPEN) backend.send(data, { binary });
    else early.push([data, binary]);
  });
  client.on('close', (code, reason) => {
    clearTimeout(timer);
    if (backend && backend.readyState <= WebSocket.OPEN) backend.close(sendable(code), reason);
  });
  client.on('error', () => {});
}

async function main() {
  const ports = { 1: await startBackend(1), 2: await startBackend(2) };
  const front = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  front.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (client) => serve(client, req.url, ports)));
  front.listen(Number(arg('-p')), arg('-h') || '127.0.0.1',
    () => console.log(`dual reference on ${arg('-h')}:${arg('-p')} (generation 1 on ${ports[1]}, 2 on ${ports[2]})`));
}

main().catch((err) => {
  console.error(`dual reference: ${err.message}`);
  stopAll();
});
