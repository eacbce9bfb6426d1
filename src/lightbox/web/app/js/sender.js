// Send the latest of a rapidly changing value (a slider being dragged) without flooding.
//
// At most one request is in flight and requests start at least `intervalMs` apart, so a
// drag sends about 1000/intervalMs updates a second; values that arrive meanwhile replace
// each other, and the last one is always sent. Requests go one after another, so they
// reach the LightBox in order and the final value wins.

export class LatestValueSender {
  constructor(send, { intervalMs = 100, onError = null } = {}) {
    this.sendFn = send;
    this.intervalMs = intervalMs;
    this.onError = onError;
    this.pending = undefined;
    this.hasPending = false;
    this.lastSent = undefined;
    this.inFlight = false;
    this.lastStart = 0;
    this.timer = null;
    this.idleWaiters = [];
  }

  /** Queue `value`; it replaces any value not sent yet. The value just sent is not resent. */
  push(value) {
    if (!this.hasPending && value === this.lastSent) return;
    this.pending = value;
    this.hasPending = true;
    this.pump();
  }

  get busy() {
    return this.inFlight || this.hasPending;
  }

  /** Resolves when everything pushed so far has been sent. */
  idle() {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  pump() {
    if (this.inFlight || !this.hasPending || this.timer) return;
    const wait = this.lastStart + this.intervalMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => { this.timer = null; this.pump(); }, wait);
      return;
    }
    const value = this.pending;
    this.hasPending = false;
    if (value === this.lastSent) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    this.lastSent = value;
    this.inFlight = true;
    this.lastStart = performance.now();
    Promise.resolve()
      .then(() => this.sendFn(value))
      .catch((err) => this.onError?.(err))
      .finally(() => {
        this.inFlight = false;
        if (this.hasPending) this.pump();
        else for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }
}
