// Holds the frames a server sends one page to what its protocol generation allows, so that a
// server mixing up generations (protocol-v2.md, "One port, two generations") fails the
// scenario even where netflux would shrug it off (it ignores frames it cannot decode and
// rejoins). Checked per signaling socket:
// - every server frame is binary and one message of the page's generation that a server may
//   send: generation 1 content/isFirst/heartbeat, generation 2 heartbeat/content/connected;
// - generation 1: the first server frame is isFirst (nothing comes before the generation is
//   decided, and a generation-1 peer's first message from the server is its isFirst);
// - generation 2: before the page's first connect, nothing but heartbeats; and one exception
//   to the rule above: the first server frame may be a generation-1 isFirst (10 00 or 10 01),
//   when the server took a page slower than its detection timeout for a silent netflux 3 and
//   then moved it to generation 2 on its connect (protocol-v2.md, "Late generation 2";
//   netflux 4 ignores that frame). Those are counted: many mean the timeout is too short;
// - answers come only to questions: generation 1 isFirst once per join (the first and one per
//   tryAnother), generation 2 connected once per connect (a generation-1 heartbeat, 20 01,
//   reads as connected=true to netflux 4, which would otherwise go unseen).
// It also counts the server heartbeats, for scenarios that hold a group past a tick.
import { readFields } from './wire.mjs';

// Protobuf tag bytes (field number << 3 | wire type) of the messages a server may send.
const SERVER_TAGS = {
  1: { 0x0a: 'content', 0x10: 'isFirst', 0x20: 'heartbeat' },
  2: { 0x08: 'heartbeat', 0x12: 'content', 0x20: 'connected' },
};
// What a page sends that the server answers once: connect (generation 2), tryAnother (1).
const QUESTION_TAGS = { 1: 0x28, 2: 0x1a };
const ANSWERS = { 1: 'isFirst', 2: 'connected' };

function serverMessageType(payload, generation) {
  if (typeof payload === 'string') return null;
  const bytes = new Uint8Array(payload);
  try {
    if (readFields(bytes).length !== 1) return null;
  } catch {
    return null;
  }
  return SERVER_TAGS[generation][bytes[0]] || null;
}

const hex = (payload) => typeof payload === 'string' ? `text ${JSON.stringify(payload.slice(0, 40))}`
  : Buffer.from(payload).subarray(0, 16).toString('hex');

export class FrameCheck {
  constructor(generation) {
    this.generation = generation;
    this.problems = [];
    this.count = 0;
    this.heartbeats = 0;
    this.lateMoves = 0;
  }

  // A new signaling socket of this page: returns { sent(payload), received(payload) }.
  socket() {
    const n = ++this.count;
    let received = 0;
    let questions = this.generation === 1 ? 1 : 0; // generation 1: the upgrade asks for isFirst
    let answers = 0;
    const problem = (what) => {
      if (this.problems.length < 10) this.problems.push(`ws#${n} ${what}`);
    };
    return {
      sent: (payload) => {
        if (typeof payload !== 'string' && new Uint8Array(payload)[0] === QUESTION_TAGS[this.generation]) {
          questions++;
        }
      },
      received: (payload) => {
        received++;
        const type = serverMessageType(payload, this.generation);
        if (this.generation === 2 && received === 1 && serverMessageType(payload, 1) === 'isFirst') {
          this.lateMoves++;
          return;
        }
        if (type === 'heartbeat') this.heartbeats++;
        if (type === ANSWERS[this.generation]) answers++;
        if (!type) {
          problem(`got a frame that is no generation-${this.generation} server message: ${hex(payload)}`);
        } else if (this.generation === 1 && received === 1 && type !== 'isFirst') {
          problem(`got ${type} (${hex(payload)}) before isFirst`);
        } else if (this.generation === 2 && questions === 0 && type !== 'heartbeat') {
          problem(`got ${type} (${hex(payload)}) before sending connect`);
        } else if (answers > questions) {
          problem(`got ${type} (${hex(payload)}) number ${answers}, for ${questions} ` +
            (this.generation === 1 ? 'join(s)' : 'connect(s)'));
        }
      },
    };
  }

  trouble() {
    return this.problems.slice();
  }
}
