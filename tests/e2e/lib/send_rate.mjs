// How fast real netflux pages send on their signaling socket, to check that the server's
// per-peer message limit (max_messages_per_second with messages_burst, a token bucket) is
// far from anything a real client does. Every frame a page sends is timed on the Node side;
// at the end the runner prints the peak and the burst a bucket of the configured rate needs.
const sockets = [];  // { label, times: [ms] }

export function sendTimes(label) {
  const entry = { label, times: [] };
  sockets.push(entry);
  return entry.times;
}

// Most frames sent within any one second.
function peakPerSecond(times) {
  let best = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while (times[last] - times[first] > 1000) first++;
    best = Math.max(best, last - first + 1);
  }
  return best;
}

// The smallest burst with which a bucket of `rate` per second lets every frame through: the
// server's rule, replayed (a frame passes while its budget is spent at most `burst`
// intervals ahead).
function burstNeeded(times, rate) {
  const interval = 1000 / rate;
  let due = -Infinity;
  let need = 0;
  for (const t of times) {
    due = Math.max(due, t);
    need = Math.max(need, (due - t) / interval);
    due += interval;
  }
  return Math.ceil(need);
}

export function sendRateReport(rate, burst) {
  let peak = { value: 0, label: '-' };
  let need = { value: 0, label: '-' };
  for (const { label, times } of sockets) {
    const p = peakPerSecond(times);
    const b = burstNeeded(times, rate);
    if (p > peak.value) peak = { value: p, label };
    if (b > need.value) need = { value: b, label };
  }
  return `e2e: signaling sends per page: at most ${peak.value} frames in one second (${peak.label}); ` +
    `a bucket of ${rate}/s needs a burst of ${need.value} (${need.label}); the server allows ${burst}`;
}
