// The Node side of one test peer: its own isolated browser context and page, running
// page/peer.js with netflux 3.0.0 or 4.3.1. Every browser call is bounded by a timeout so a
// stuck browser fails the scenario instead of hanging it.
import { sendTimes } from './send_rate.mjs';
import { FrameCheck } from './frame_check.mjs';
import { describeFrame } from './wire.mjs';

const ACTION_TIMEOUT_MS = 10_000;

export class Peer {
  constructor(name, netflux, context, page, journal, frames) {
    this.name = name;
    this.netflux = netflux;
    this.context = context;
    this.page = page;
    this.journal = journal;
    this.frames = frames;
    this.myId = 0;
    this.joinMillis = null;
  }

  // journal: the scenario's Journal, which collects console lines and signaling frames.
  // netflux: 3 (3.0.0, protocol generation 1) or 4 (4.3.1, generation 2).
  static async open(browser, pageUrl, name, journal, scenario = '', netflux = 3) {
    const generation = netflux === 4 ? 2 : 1;
    const frames = new FrameCheck(generation);
    const context = await browser.newContext();
    // Without a camera/microphone grant Chromium shows WebRTC only the default-route
    // interface, under a random *.local mDNS name; with it, the real host candidates,
    // loopback included, which is all these peers can use.
    await context.grantPermissions(['camera', 'microphone']);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    const page = await context.newPage();
    page.on('console', (msg) => journal.add(name, `console.${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => journal.add(name, `page error: ${err.message}`));
    page.on('crash', () => journal.add(name, 'PAGE CRASHED'));
    page.on('websocket', (ws) => {
      journal.add(name, `websocket ${ws.url()}`);
      const sent = sendTimes(`${scenario} ${name}`);
      const socket = frames.socket();
      ws.on('framesent', (f) => {
        sent.push(performance.now());
        socket.sent(f.payload);
        journal.add(name, `> ${describeFrame(f.payload, generation)}`, 'frame');
      });
      ws.on('framereceived', (f) => {
        socket.received(f.payload);
        journal.add(name, `< ${describeFrame(f.payload, generation)}`, 'frame');
      });
      ws.on('socketerror', (err) => journal.add(name, `websocket error: ${err}`));
      ws.on('close', () => journal.add(name, 'websocket closed'));
    });
    await page.goto(`${pageUrl}/${netflux === 4 ? 'index4' : 'index'}.html`,
      { timeout: ACTION_TIMEOUT_MS });
    return new Peer(name, netflux, context, page, journal, frames);
  }

  // Starts joining KEY, to be complete once the group has EXPECTED_SIZE members (this
  // peer included); returns at once. waitJoined() tells when it is done.
  async join(signalingUrl, key, expectedSize) {
    this.journal.add(this.name, `join ${key}`);
    this.myId = await this.page.evaluate(([url, k, n]) => {
      window.peer.join(url, k, n);
      return window.peer.group.myId;
    }, [signalingUrl, key, expectedSize]);
    this.expectedSize = expectedSize;
  }

  // Waits until the join started by join() completes; returns its duration in ms.
  async waitJoined(timeoutMs) {
    await this.waitFor(() => window.peer.hasJoined(), undefined, timeoutMs,
      `join a group of ${this.expectedSize}`);
    this.joinMillis = await this.page.evaluate(() => window.peer.joinMillis());
    return this.joinMillis;
  }

  // Waits until this peer is a stable member of a group of exactly SIZE.
  async waitGroupSize(size, timeoutMs) {
    await this.waitFor((n) => window.peer.isJoinedWith(n), size, timeoutMs,
      `see a group of ${size}`);
  }

  async waitFor(predicate, arg, timeoutMs, what) {
    try {
      await this.page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: 20 });
    } catch (err) {
      const s = await this.snapshot().catch(() => null);
      throw new Error(`${this.name} did not ${what} within ${timeoutMs} ms` +
        (s ? ` (state=${s.state} signaling=${s.signalingState} members=${s.members.length})` : '') +
        ` [${firstLine(err)}]`);
    }
  }

  async send(text) {
    await this.page.evaluate((t) => window.peer.send(t), text);
  }

  async waitReceived(fromId, text, timeoutMs, fromName) {
    await this.waitFor(([id, t]) => window.peer.hasReceived(id, t), [fromId, text], timeoutMs,
      `receive ${JSON.stringify(text)} from ${fromName}`);
  }

  async members() {
    return this.page.evaluate(() => window.peer.group.members.slice());
  }

  async received() {
    return this.page.evaluate(() => window.peer.received.slice());
  }

  async leave() {
    this.journal.add(this.name, 'leave');
    await this.page.evaluate(() => window.peer.leave());
  }

  // What went wrong with the signaling socket: closes and reconnects the page saw, and
  // frames that break what the server owes this peer's generation (see frame_check.mjs).
  async signalingTrouble() {
    const trouble = await this.page.evaluate(() => window.peer.signalingTrouble());
    return [...trouble, ...this.frames.trouble()];
  }

  // Server heartbeats this page's signaling sockets got so far.
  heartbeatsReceived() {
    return this.frames.heartbeats;
  }

  // How often this netflux 4 page was first taken for a silent netflux 3 (see frame_check.mjs).
  lateMoves() {
    return this.frames.lateMoves;
  }

  async snapshot() {
    return this.page.evaluate(() => window.peer.snapshot());
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}

function firstLine(err) {
  return String(err && err.message ? err.message : err).split('\n')[0];
}
