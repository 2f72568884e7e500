// The page's WebSocket to /ws/sessions/<id>/. It always resumes with ?after=<last seq>, so a
// dropped connection costs nothing: the server sends exactly what was missed, then the live
// stream. Retries back off from 0.5 s to 5 s. Client events sent while it is down wait in a
// small queue and go out, in order, once it is open again.

export function createSocket({ sessionId, store, onState, onBatch }) {
  const MIN_DELAY = 500;
  const MAX_DELAY = 5000;
  // Close codes the server uses for refusals that a retry cannot fix (playground/realtime/sockets/session.py).
  const FINAL_CODES = { 4400: "bad request", 4401: "not signed in", 4404: "no such session" };
  let ws = null;
  let delay = MIN_DELAY;
  let timer = null;
  let stopped = false;
  let openedAt = 0;
  const queue = [];

  const api = {
    connects: 0, // how many times a socket opened (a test checks that a kill led to a resume)
    kills: 0,
    state: "connecting",
    connect,
    send,
    stop,
    // Test hook: drop the connection as a network failure would; the socket resumes by itself.
    kill() {
      api.kills += 1;
      if (ws) ws.close(3001, "killed for a test");
    },
    // Resume from the last seq now (after a gap), without waiting for a back-off.
    resume() {
      if (ws) {
        const old = ws;
        ws = null;
        detach(old);
        old.close(3002, "resuming after a gap");
      }
      clearTimeout(timer);
      connect();
    },
  };

  function setState(state, detail) {
    api.state = state;
    onState(state, detail);
  }

  function url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // No trim=1: the audio in these frames will be played, so it must arrive whole.
    return `${scheme}://${location.host}/ws/sessions/${sessionId}/?after=${store.lastSeq}`;
  }

  function detach(socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
  }

  function connect() {
    if (stopped) return;
    setState(api.connects ? "reconnecting" : "connecting");
    const socket = new WebSocket(url());
    ws = socket;
    socket.onopen = () => {
      api.connects += 1;
      openedAt = Date.now();
      setState("open");
      while (queue.length && socket.readyState === WebSocket.OPEN) socket.send(queue.shift());
    };
    socket.onmessage = (message) => {
      // A socket that stays up long enough to talk has earned a fresh back-off.
      if (Date.now() - openedAt > 2000) delay = MIN_DELAY;
      let batch;
      try {
        batch = JSON.parse(message.data);
      } catch (err) {
        console.error("console: a socket message is not JSON", err);
        return;
      }
      onBatch(Array.isArray(batch) ? batch : [batch]);
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      if (FINAL_CODES[event.code]) {
        stopped = true;
        setState("closed", `refused: ${FINAL_CODES[event.code]} (${event.code})`);
        return;
      }
      if (stopped) {
        setState("closed");
        return;
      }
      const wait = delay;
      delay = Math.min(MAX_DELAY, delay * 2);
      setState("waiting", `lost (${event.code}); retrying in ${(wait / 1000).toFixed(1)} s`);
      timer = setTimeout(connect, wait);
    };
  }

  // Send a client event; returns "sent", "queued" or "stopped".
  function send(event) {
    const text = JSON.stringify(event);
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(text);
      return "sent";
    }
    if (stopped) return "stopped";
    if (queue.length >= 100) queue.shift(); // a socket down for long: keep the newest
    queue.push(text);
    return "queued";
  }

  // No more reconnects (the session ended); the open socket, if any, stays to finish its stream.
  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (!ws) setState("closed");
  }

  return api;
}
