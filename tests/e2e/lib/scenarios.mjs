// The browser scenarios. Each gets a fresh browser, a fresh random key, one isolated
// browser context per peer, and returns the join times to print. Any thrown error fails it.
// scenariosFor('3') and ('4') are the same scenarios with netflux 3.0.0 or 4.3.1 pages;
// ('mixed') puts pages of both on the same server and keys at the same time.
import { randomBytes } from 'node:crypto';
import { Peer } from './peer.mjs';

const JOIN_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 10_000;
const HEARTBEAT_HOLD_MS = 6_000;

const freshKey = () => `e2e-${randomBytes(12).toString('base64url')}`;

// ctx: { browser, pageUrl, signalingUrl, journal, peers, netflux } (peers: opened ones,
// closed by the runner afterwards; netflux: 3 or 4, the pages' version unless given).
async function openPeers(ctx, names, netflux = ctx.netflux) {
  const opened = await Promise.all(names.map((name) =>
    Peer.open(ctx.browser, ctx.pageUrl, name, ctx.journal, ctx.scenario, netflux)));
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

// Every message PEER received came from one of FROM (messages are "tag:name").
async function expectOnlyMessagesFrom(peer, from) {
  const names = new Set(from.map((p) => p.name));
  const foreign = (await peer.received()).filter((m) => !names.has(m.data.split(':')[1]));
  if (foreign.length) throw new Error(`${peer.name} got another group's message: ${foreign[0].data}`);
}

// The scenarios of one netflux version. netflux 4.3.1 pages that join one member at the
// same moment do not converge (protocol-v2.md, Testing with the real client): with 4 they
// join in turn where 3 joins several at once.
function sameVersionScenarios(netflux) {
  return [
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
        for (const peer of [x1, x2]) await expectOnlyMessagesFrom(peer, [x1, x2]);
        for (const peer of [y1, y2]) await expectOnlyMessagesFrom(peer, [y1, y2]);
        return joinTimes([x1, x2, y1, y2]);
      },
    },
    {
      // netflux 3: two peers join one by one, then four at once: the server binds several
      // joiners to the same member at the same time and must keep their relays apart by id.
      // netflux 4: all six in turn.
      name: 'group-of-six',
      async run(ctx) {
        const peers = await openPeers(ctx, ['a', 'b', 'c', 'd', 'e', 'f']);
        const key = freshKey();
        if (netflux === 4) {
          await joinInTurn(ctx, key, peers);
        } else {
          await joinInTurn(ctx, key, peers.slice(0, 2));
          await joinTogether(ctx, key, peers.slice(2), 2);
        }
        await expectGroupOf(peers);
        await expectEveryMessageDelivered(peers, 'six');
        return joinTimes(peers);
      },
    },
  ];
}

// Opens the same NAMES twice, as netflux 3 pages (NAME3) and netflux 4 pages (NAME4).
async function openBothVersions(ctx, names) {
  return Promise.all([
    openPeers(ctx, names.map((n) => `${n}3`), 3),
    openPeers(ctx, names.map((n) => `${n}4`), 4),
  ]);
}

// Each generation's pages form their own group: exactly its pages, messages delivered among
// them, and no message from another group. SENDERS[i]: the pages whose messages group i may
// hold (by default its own; more when members left it).
async function expectSeparateGroups(groups, tag, senders = groups) {
  await Promise.all(groups.map((peers) => expectGroupOf(peers)));
  await Promise.all(groups.map((peers, i) => expectEveryMessageDelivered(peers, `${tag}${i}`)));
  for (const [i, peers] of groups.entries()) {
    for (const peer of peers) await expectOnlyMessagesFrom(peer, senders[i]);
  }
}

// netflux 3.0.0 and 4.3.1 pages on one server and the same keys at the same time: the same
// key in the two generations names two unrelated groups (protocol-v2.md, "One port, two
// generations"). Within a version pages join in turn; the two versions join concurrently,
// so their connections arrive interleaved, first peers included.
const mixedScenarios = [
  {
    // Then holds both groups past a heartbeat tick (5 s by default, and netflux's own first
    // heartbeat comes 5 s after open): each page must get heartbeats in its own encoding
    // (lib/frame_check.mjs) and keep its group.
    name: 'mixed-same-key',
    async run(ctx) {
      const key = freshKey();
      const [v3, v4] = await openBothVersions(ctx, ['a', 'b', 'c']);
      await Promise.all([joinInTurn(ctx, key, v3), joinInTurn(ctx, key, v4)]);
      await expectSeparateGroups([v3, v4], 'same');
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_HOLD_MS));
      for (const peer of [...v3, ...v4]) {
        if (peer.heartbeatsReceived() === 0) {
          throw new Error(`${peer.name} got no server heartbeat in ${HEARTBEAT_HOLD_MS} ms`);
        }
      }
      await expectSeparateGroups([v3, v4], 'held');
      return joinTimes([...v3, ...v4]);
    },
  },
  {
    // Three of each, as in member-leaves-then-new-peer-joins: a netflux 3 page left alone
    // reconnects by itself 2 s later, which would count as a disturbed signaling socket.
    name: 'mixed-member-leaves-then-new-peers-join',
    async run(ctx) {
      const key = freshKey();
      const [[a3, b3, c3, d3], [a4, b4, c4, d4]] = await openBothVersions(ctx, ['a', 'b', 'c', 'd']);
      await Promise.all([joinInTurn(ctx, key, [a3, b3, c3]), joinInTurn(ctx, key, [a4, b4, c4])]);
      await expectSeparateGroups([[a3, b3, c3], [a4, b4, c4]], 'before');
      await Promise.all([a3.leave(), a4.leave()]);
      await Promise.all([expectGroupOf([b3, c3]), expectGroupOf([b4, c4])]);
      await Promise.all([joinInTurn(ctx, key, [d3], 2), joinInTurn(ctx, key, [d4], 2)]);
      await expectSeparateGroups([[b3, c3, d3], [b4, c4, d4]], 'after',
        [[a3, b3, c3, d3], [a4, b4, c4, d4]]);
      return joinTimes([a3, b3, c3, d3, a4, b4, c4, d4]);
    },
  },
  {
    name: 'mixed-two-keys',
    async run(ctx) {
      const keyX = freshKey();
      const keyY = freshKey();
      const [[x13, x23, y13, y23], [x14, x24, y14, y24]] =
        await openBothVersions(ctx, ['x1', 'x2', 'y1', 'y2']);
      await Promise.all([
        joinInTurn(ctx, keyX, [x13, x23]), joinInTurn(ctx, keyX, [x14, x24]),
        joinInTurn(ctx, keyY, [y13, y23]), joinInTurn(ctx, keyY, [y14, y24]),
      ]);
      await expectSeparateGroups([[x13, x23], [x14, x24], [y13, y23], [y14, y24]], 'two');
      return joinTimes([x13, x23, y13, y23, x14, x24, y14, y24]);
    },
  },
];

// MODE: '3', '4' or 'mixed' (SIGVER_E2E_NETFLUX).
export function scenariosFor(mode) {
  if (mode === 'mixed') return mixedScenarios;
  return sameVersionScenarios(mode === '4' ? 4 : 3);
}
