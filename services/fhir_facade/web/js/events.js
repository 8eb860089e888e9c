// The live update loop: GET /api/events?after=N long-polls (the server
// answers within ~25 s). Batches of events go to onEvents; `reset: true`
// (server restarted or N too old) goes to onReset, which reloads everything.
// Network or server failures back off (2 s doubling to 30 s) and retry; a
// 401 stops the loop (api.js sends the user back to sign-in).

import { getJson, ApiError } from './api.js';

/**
 * Starts the loop. Returns a function that stops it (aborting the request
 * in flight). `onState(state)` gets 'on' | 'error' | 'off'.
 */
export function startEvents({ onEvents, onReset, onState = () => {} }) {
  let stopped = false;
  let controller = null;
  let after = 0;
  let backoff = 2000;
  let timer = null;

  const sleep = (ms) => new Promise((resolve) => { timer = setTimeout(resolve, ms); });

  async function loop() {
    while (!stopped) {
      controller = new AbortController();
      // A guard against a proxy holding the request for ever: abort after 60 s.
      const guard = setTimeout(() => controller.abort(), 60000);
      const started = Date.now();
      try {
        const body = await getJson(`/api/events?after=${after}`, { signal: controller.signal });
        clearTimeout(guard);
        if (stopped) return;
        onState('on');
        backoff = 2000;
        const next = Number(body.seq);
        if (body.reset) {
          after = Number.isFinite(next) ? next : 0;
          onReset();
          continue;
        }
        const events = Array.isArray(body.events) ? body.events : [];
        if (Number.isFinite(next) && next > after) after = next;
        else if (events.length) after = Math.max(after, ...events.map((e) => Number(e.seq) || 0));
        if (events.length) onEvents(events);
        // A server answering at once with nothing must not make this a busy loop.
        else if (Date.now() - started < 500) await sleep(1000);
      } catch (e) {
        clearTimeout(guard);
        if (stopped) return;
        if (e instanceof ApiError && e.status === 401) { onState('off'); return; }
        if (e && e.name === 'AbortError') continue;  // our guard fired: poll again
        onState('error');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30000);
      }
    }
  }

  onState('on');
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    onState('off');
  };
}
