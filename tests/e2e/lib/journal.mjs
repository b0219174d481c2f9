// What happened during one scenario, in order: signaling frames each browser sent and got,
// browser console lines, and test steps. Printed when the scenario fails (or always with
// SIGVER_E2E_VERBOSE=1), so a failure against our server shows its cause.
export class Journal {
  constructor() {
    this.start = Date.now();
    this.lines = [];
  }

  add(who, what) {
    const ms = String(Date.now() - this.start).padStart(6);
    this.lines.push(`${ms}ms ${who.padEnd(4)} ${what}`);
  }

  // Heartbeats are most of a long log and rarely the story: keep the first of each peer's.
  render({ withHeartbeats = false } = {}) {
    const seen = new Set();
    return this.lines.filter((line) => {
      if (withHeartbeats || !line.includes('heartbeat=true')) return true;
      const key = line.replace(/^\s*\d+ms /, '');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
}
