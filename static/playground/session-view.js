// A session's live view: every frame from /ws/sessions/<id>/, the answer text as it streams,
// and a box to talk. Reconnects with ?after=<last seq>, so nothing is missed or shown twice.
"use strict";
(function () {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const list = document.getElementById("events");
  const count = document.getElementById("event-count");
  const answer = document.getElementById("answer");
  const socketState = document.getElementById("socket-state");
  const stateBox = document.getElementById("state");
  const reasonBox = document.getElementById("state-reason");
  const notice = document.getElementById("notice");
  let lastSeq = 0;
  let shown = 0;
  let socket = null;
  let ended = page.state !== "live" && page.state !== "connecting";

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  function summary(event) {
    if (event.delta !== undefined && typeof event.delta === "string" && event.type.indexOf("audio.delta") < 0) {
      return JSON.stringify(event.delta);
    }
    if (event.type === "error" && event.error) return event.error.message;
    return "";
  }

  function addFrame(frame) {
    if (frame.seq !== null) {
      if (frame.seq <= lastSeq) return; // already shown
      lastSeq = frame.seq;
    }
    const li = document.createElement("li");
    li.className = "dir-" + frame.direction;
    const body = frame.event || frame.notice || {};
    const type = frame.event ? body.type : "playground: " + body.kind;
    li.innerHTML = '<span class="seq"></span><span class="dir"></span><span class="type"></span><span class="sum"></span>';
    li.children[0].textContent = frame.seq === null ? "·" : frame.seq;
    li.children[1].textContent = frame.direction === "client" ? "→" : frame.direction === "server" ? "←" : "!";
    li.children[2].textContent = type;
    li.children[3].textContent = frame.notice ? body.message : summary(body);
    li.title = JSON.stringify(body).slice(0, 2000);
    list.appendChild(li);
    shown += 1;
    count.textContent = shown;
    if (frame.event) onEvent(body);
    if (frame.notice) {
      showNotice(body.message);
      if (body.state) setState(body.state, body.message);
    }
  }

  function setState(state, reason) {
    stateBox.textContent = state;
    stateBox.className = "state state-" + state;
    reasonBox.textContent = reason || "";
    if (state !== "live") ended = true;
  }

  function onEvent(event) {
    if (event.type === "response.created") answer.textContent = "";
    if (event.type === "response.output_text.delta" || event.type === "response.output_audio_transcript.delta") {
      answer.textContent += event.delta;
    }
    if (event.type === "error" && event.error) showNotice("Upstream error: " + event.error.message);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/sessions/${page.id}/?after=${lastSeq}&trim=1`);
    socketState.textContent = "connecting…";
    socket.onopen = () => (socketState.textContent = "open");
    socket.onmessage = (msg) => JSON.parse(msg.data).forEach(addFrame);
    socket.onclose = (e) => {
      socketState.textContent = "closed (" + e.code + ")";
      if (!ended && e.code < 4000) setTimeout(connect, 1000);
    };
  }

  function send(event) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showNotice("The socket is not open yet.");
      return;
    }
    socket.send(JSON.stringify(event));
  }

  document.getElementById("say").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = e.target.elements.text;
    send({
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text: input.value }] },
    });
    send({ type: "response.create" });
    input.value = "";
  });

  document.getElementById("close-session").addEventListener("click", async () => {
    try {
      const s = await playgroundApi.call("POST", `/sessions/${page.id}/close`);
      setState(s.state, s.state_reason);
    } catch (err) {
      showNotice(err.message);
    }
  });

  connect();
})();
