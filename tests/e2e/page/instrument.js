// Runs in the browser before netflux. Two jobs:
// 1. Keep WebRTC on loopback: only 127.0.0.1 ICE candidates are passed on or accepted, so
//    no packet is ever addressed to another interface of the machine (the test may run
//    outside a private network namespace).
//    In a network namespace with only loopback, Chromium reports navigator.onLine=false
//    and netflux then refuses to join: the page says it is online.
// 2. Record what the signaling WebSocket does (open, close code and reason, errors) so a
//    failing scenario can say why.
(function () {
  'use strict';

  Object.defineProperty(Navigator.prototype, 'onLine', { get: () => true, configurable: true });

  const isLoopbackCandidate = (line) => / 127\.\d+\.\d+\.\d+ /.test(line);

  function keepLoopbackCandidatesInSdp(sdp) {
    return sdp
      .split('\r\n')
      .filter((line) => !line.startsWith('a=candidate:') || isLoopbackCandidate(line))
      .join('\r\n');
  }

  const NativePeerConnection = window.RTCPeerConnection;
  class LoopbackOnlyPeerConnection extends NativePeerConnection {
    set onicecandidate(handler) {
      super.onicecandidate = (event) => {
        // A null candidate (end of gathering) and loopback candidates go through.
        if (!event.candidate || isLoopbackCandidate(event.candidate.candidate)) {
          handler(event);
        } else if (event.candidate.candidate) {
          console.log(`[rtc] dropped non-loopback local candidate ${event.candidate.candidate}`);
        }
      };
    }
    get onicecandidate() {
      return super.onicecandidate;
    }
    addIceCandidate(candidate, ...rest) {
      if (candidate && candidate.candidate && !isLoopbackCandidate(candidate.candidate)) {
        return Promise.resolve();
      }
      return super.addIceCandidate(candidate, ...rest);
    }
    setRemoteDescription(description, ...rest) {
      if (description && description.sdp) {
        description = { type: description.type, sdp: keepLoopbackCandidatesInSdp(description.sdp) };
      }
      return super.setRemoteDescription(description, ...rest);
    }
  }
  window.RTCPeerConnection = LoopbackOnlyPeerConnection;

  const socketEvents = [];
  window.e2eSocketEvents = socketEvents;
  const NativeWebSocket = window.WebSocket;
  let socketCount = 0;
  class RecordingWebSocket extends NativeWebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      const n = ++socketCount;
      const note = (kind, what) => {
        const entry = { t: Math.round(performance.now()), ws: n, kind, what };
        socketEvents.push(entry);
        console.log(`[ws#${n}] ${what}`);
      };
      note('connect', `connect ${url}`);
      this.addEventListener('open', () => note('open', 'open'));
      this.addEventListener('error', () => note('error', 'error event'));
      this.addEventListener('close', (e) => note('close',
        `close code=${e.code} reason=${JSON.stringify(e.reason)} clean=${e.wasClean}`));
    }
  }
  window.WebSocket = RecordingWebSocket;
})();
