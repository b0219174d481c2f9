// The browser scenarios. Each gets a fresh browser, a fresh random key, one isolated
// browser context per peer, and returns the join times to print. Any thrown error fails it.
import { randomBytes } from 'node:crypto';
import { Peer } from './peer.mjs';

const JOIN_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 10_000;

const freshKey = () => `e2e-${randomBytes(12).toString('base64url')}`;

// ctx: { browser, pageUrl, signalingUrl, journal, peers } (peers: opened ones, closed by
// the runner afterwards).
async function openPeers(ctx, names) {
  const opened = await Promise.all(
    names.map((name) => Peer.open(ctx.browser, ctx.pageUrl, name, ctx.journal, ctx.scenario)));
  ctx.peers.push(...opened);
  return opened;
}

// Joins PEERS one after the other into KEY, whose group already has ALREADY members.
async function joinInTurn(ctx, key, peers, already = 0) {
  for (const [i, peer] of peers.entries()) {
    await peer.join(ctx.signalingUrl, key, already + i + 1);
    await peer.waitJoined(JOIN_TIMEOUT_MS);
  }
}

// Joins PEERS all at once into KEY, whose group already has ALREADY members.
async function joinTogether(ctx, key, peers, already) {
  const size = already + peers.length;
  await Promise.all(peers.map((peer) => peer.join(ctx.signalingUrl, key, size)));
  await Promise.all(peers.map((peer) => peer.waitJoined(JOIN_TIMEOUT_MS)));
}

// Every peer is stable in a group of exactly PEERS, and they all list the same members.
async function expectGroupOf(peers) {
  await Promise.all(peers.map((peer) => peer.waitGroupSize(peers.length, JOIN_TIMEOUT_MS)));
  const want = peers.map((p) => p.myId).sort().join(',');
  for (const peer of peers) {
    const got = (await peer.members()).sort().join(',');
    if (got !== want) throw new Error(`${peer.name} lists members [${got}], expected [${want}]`);
  }
}

// Every peer broadcasts one message; every other peer of the group must receive it.
async function expectEveryMessageDelivered(peers, tag) {
  for (const sender of peers) await sender.send(`${tag}:${sender.name}`);
  const waits = [];
  for (const sender of peers) {
    for (const receiver of peers) {
      if (receiver === sender) continue;
      waits.push(receiver.waitReceived(sender.myId, `${tag}:${sender.name}`, DELIVERY_TIMEOUT_MS,
        sender.name));
    }
  }
  await Promise.all(waits);
}

const joinTimes = (peers) => peers.map((p) => `${p.name}=${p.joinMillis}ms`).join(' ');

export const scenarios = [
  {
    name: 'two-peers-exchange',
    async run(ctx) {
      const [a, b] = await openPeers(ctx, ['a', 'b']);
      await joinInTurn(ctx, freshKey(), [a, b]);
      await expectGroupOf([a, b]);
      await a.send('hello from a');
      await b.waitReceived(a.myId, 'hello from a', DELIVERY_TIMEOUT_MS, 'a');
      await b.send('hello from b');
      await a.waitReceived(b.myId, 'hello from b', DELIVERY_TIMEOUT_MS, 'b');
      return joinTimes([a, b]);
    },
  },
  {
    name: 'three-peers-full-mesh',
    async run(ctx) {
      const peers = await openPeers(ctx, ['a', 'b', 'c']);
      await joinInTurn(ctx, freshKey(), peers);
      await expectGroupOf(peers);
      await expectEveryMessageDelivered(peers, 'mesh');
      return joinTimes(peers);
    },
  },
  {
    // The first member is the one the server hands joiners to; after it leaves, a new peer
    // must be routed to a remaining member.
    name: 'member-leaves-then-new-peer-joins',
    async run(ctx) {
      const key = freshKey();
      const [a, b, c] = await openPeers(ctx, ['a', 'b', 'c']);
      await joinInTurn(ctx, key, [a, b, c]);
      await expectGroupOf([a, b, c]);
      await a.leave();
      await expectGroupOf([b, c]);
      const [d] = await openPeers(ctx, ['d']);
      await joinInTurn(ctx, key, [d], 2);
      await expectGroupOf([b, c, d]);
      await expectEveryMessageDelivered([b, c, d], 'after-leave');
      return joinTimes([a, b, c, d]);
    },
  },
  {
    name: 'two-keys-stay-separate',
    async run(ctx) {
      const [x1, x2, y1, y2] = await openPeers(ctx, ['x1', 'x2', 'y1', 'y2']);
      const keyX = freshKey();
      const keyY = freshKey();
      await Promise.all([joinInTurn(ctx, keyX, [x1]), joinInTurn(ctx, keyY, [y1])]);
      await Promise.all([joinInTurn(ctx, keyX, [x2], 1), joinInTurn(ctx, keyY, [y2], 1)]);
      await expectGroupOf([x1, x2]);
      await expectGroupOf([y1, y2]);
      await expectEveryMessageDelivered([x1, x2], 'x');
      await expectEveryMessageDelivered([y1, y2], 'y');
      for (const peer of [x1, x2, y1, y2]) {
        const foreign = (await peer.received()).filter((m) => m.data[0] !== peer.name[0]);
        if (foreign.length) throw new Error(`${peer.name} got another group's message: ${foreign[0].data}`);
      }
      return joinTimes([x1, x2, y1, y2]);
    },
  },
  {
    // Two peers join one by one, then four at once: the server binds several joiners to
    // the same member at the same time and must keep their relays apart by id.
    name: 'group-of-six',
    async run(ctx) {
      const peers = await openPeers(ctx, ['a', 'b', 'c', 'd', 'e', 'f']);
      const key = freshKey();
      await joinInTurn(ctx, key, peers.slice(0, 2));
      await joinTogether(ctx, key, peers.slice(2), 2);
      await expectGroupOf(peers);
      await expectEveryMessageDelivered(peers, 'six');
      return joinTimes(peers);
    },
  },
];
