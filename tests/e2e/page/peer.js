// The in-page side of one test peer: a netflux WebGroup plus a record of what happened to
// it. The Node runner drives it through page.evaluate / page.waitForFunction. The same file
// serves netflux 3.0.0 (index.html) and 4.3.1 (index4.html): their WebGroup API is the same
// but for the signaling state that says "done with the server for now".
(function () {
  'use strict';

  const { WebGroup, WebGroupState, SignalingState } = window.netflux;
  // netflux 3: STABLE, sent by the client once it joined over WebRTC. netflux 4 has no such
  // message: CHECKED means the server answered its latest connect{id, members}.
  const settled = SignalingState.STABLE !== undefined ? SignalingState.STABLE : SignalingState.CHECKED;

  const peer = {
    group: null,
    joinStartedAt: 0,
    joinedAt: 0,
    leftAt: 0,
    expectedSize: 0,
    received: [],
    events: [],

    // Creates the WebGroup and starts joining KEY through the signaling server at URL;
    // the join is complete once the group has EXPECTED_SIZE members (this one included).
    // No ICE servers: the peers reach each other through loopback host candidates only.
    join(signalingUrl, key, expectedSize) {
      this.expectedSize = expectedSize;
      const group = new WebGroup({
        signalingServer: signalingUrl,
        rtcConfiguration: { iceServers: [] },
      });
      this.group = group;
      group.onMessage = (id, data) => this.received.push({ from: id, data: String(data) });
      // Each change may complete the join: check right away so the join time is exact.
      group.onMemberJoin = (id) => {
        this.note(`member joined ${id}`);
        this.hasJoined();
      };
      group.onMemberLeave = (id) => this.note(`member left ${id}`);
      group.onStateChange = (state) => {
        this.note(`state ${WebGroupState[state] !== undefined ? WebGroupState[state] : state}`);
        this.hasJoined();
      };
      group.onSignalingStateChange = (state) => {
        this.note(`signaling ${signalingName(state)}`);
        this.hasJoined();
      };
      this.joinStartedAt = performance.now();
      group.join(key);
    },

    // True once this peer is JOINED, sees SIZE members (itself included) and its signaling
    // has settled: netflux 3 told the server it is stable (or was first, also STABLE);
    // netflux 4 got the server's answer to the connect that listed its members.
    isJoinedWith(size) {
      const g = this.group;
      if (!g) return false;
      return g.state === WebGroupState.JOINED && g.members.length === size &&
        g.signalingState === settled;
    },

    // True once the join started by join() has completed; remembers when that happened.
    hasJoined() {
      if (!this.joinedAt && this.isJoinedWith(this.expectedSize)) this.joinedAt = performance.now();
      return this.joinedAt > 0;
    },

    joinMillis() {
      return Math.round(this.joinedAt - this.joinStartedAt);
    },

    send(text) {
      this.group.send(text);
    },

    leave() {
      this.leftAt = performance.now();
      this.group.leave();
    },

    // Problems with the signaling connection that netflux would hide by reconnecting on
    // its own (autoRejoin): a close or error before leave(), or a second connection.
    signalingTrouble() {
      const trouble = [];
      for (const e of window.e2eSocketEvents) {
        const beforeLeave = !this.leftAt || e.t < this.leftAt;
        if ((e.kind === 'close' || e.kind === 'error') && beforeLeave) {
          trouble.push(`ws#${e.ws} ${e.what}`);
        } else if (e.kind === 'connect' && e.ws > 1) {
          trouble.push(`ws#${e.ws} reconnected`);
        }
      }
      return trouble;
    },

    hasReceived(from, text) {
      return this.received.some((m) => m.from === from && m.data === text);
    },

    snapshot() {
      const g = this.group;
      return {
        myId: g ? g.myId : null,
        members: g ? g.members.slice() : [],
        state: g ? g.state : null,
        signalingState: g ? signalingName(g.signalingState) : null,
        received: this.received.slice(),
        events: this.events.slice(),
        sockets: window.e2eSocketEvents.slice(),
      };
    },

    note(what) {
      this.events.push({ t: Math.round(performance.now()), what });
    },
  };

  function signalingName(state) {
    return SignalingState[state] !== undefined ? SignalingState[state] : String(state);
  }

  window.peer = peer;
})();
