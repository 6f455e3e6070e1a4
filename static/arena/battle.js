// Battle page: streams both answers over one WebSocket, then posts the vote.
// Model output is shown with textContent while streaming; the server's sanitised HTML replaces it
// when a side finishes. Nothing here ever learns a model's identity before the vote response.
// A dropped socket (a phone losing its signal, a server restart) is reopened with backoff, and the
// battle is taken back with a "resume" frame: the server answers with the conversation so far per side
// and whether it can be voted. The battle's id is kept in sessionStorage, so a reload resumes it too.
(function () {
  "use strict";
  const root = document.getElementById("battle");
  if (!root) return;
  const T = JSON.parse(document.getElementById("battle-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const statusEl = $("status"), promptEl = $("prompt"), sendBtn = $("send"), stopBtn = $("stop");
  const voteForm = $("vote-form"), revealEl = $("reveal");
  const STORE = "arena.battle";  // this tab's unvoted battle
  const MAX_ATTEMPTS = 10;  // reconnects in a row (about 2.5 minutes) before asking for a reload
  const RESUME_TRIES = 5;  // resumes refused as "battle_busy" (the cut turn is still being stored)
  let socket = null, battleId = null, answering = false, current = {};
  let attempts = 0, reconnectTimer = null, resuming = false, resumeTries = 0, overallTouched = false;

  function setStatus(text, kind) { statusEl.textContent = text; statusEl.className = "notice " + (kind || ""); }
  function lock(on) {
    answering = on; promptEl.disabled = on; sendBtn.disabled = on; stopBtn.disabled = !on;
    $("new-battle").disabled = on;
  }
  function remember(id) {
    battleId = id;
    try {
      if (id) sessionStorage.setItem(STORE, id); else sessionStorage.removeItem(STORE);
    } catch (error) { /* storage disabled: resuming still works while the page stays open */ }
  }
  function storedBattle() {
    try { return sessionStorage.getItem(STORE); } catch (error) { return null; }
  }
  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }
  function bubble(side, role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text || "";
    $("log-" + side).appendChild(div);
    div.scrollIntoView({block: "end"});
    return div;
  }
  function clearLogs() { $("log-A").textContent = ""; $("log-B").textContent = ""; current = {}; }
  function resetView() {
    remember(null); clearLogs();
    voteForm.hidden = true; voteForm.reset(); overallTouched = false; revealEl.hidden = true;
    lock(false);
    setStatus(T.ready);
  }
  function closedView(message) {
    // The battle cannot go on (failed, abandoned): its text stays on screen; only "New battle" works.
    remember(null);
    lock(false); promptEl.disabled = true; sendBtn.disabled = true; voteForm.hidden = true;
    setStatus(message, "error");
  }
  function restore(frame) {
    // The server's record replaces whatever this page showed: the same turns, side by side.
    remember(frame.battle); clearLogs(); revealEl.hidden = true;
    for (const turn of frame.turns) {
      for (const side of ["A", "B"]) {
        bubble(side, "user", turn.prompt);
        const answer = turn.answers[side], div = bubble(side, "assistant", "");
        if (answer) {
          div.innerHTML = answer.html;  // sanitised on the server (nh3)
          div.classList.add("rendered");
          if (answer.finish_reason === "disconnected") div.classList.add("cut");
        }
      }
    }
    lock(false);
    voteForm.hidden = !frame.can_vote;
    setStatus(frame.can_vote ? T.voteNow : T.ready);
  }

  // ------------------------------------------------------------ the socket, reopened when it drops
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.wsPath;

  function connect() {
    reconnectTimer = null;
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener("open", () => {
      attempts = 0;
      const id = battleId || storedBattle();
      if (id) {
        resuming = true; resumeTries = 0;
        send({type: "resume", battle: id});
      } else {
        lock(false); setStatus(T.ready);
      }
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null; resuming = false;
      lock(true); stopBtn.disabled = true;
      // 4401: not logged in; 4410: the account was deleted or deactivated. Reconnecting cannot help.
      if (event.code === 4401 || event.code === 4410) { remember(null); setStatus(T.signedOut, "error"); return; }
      scheduleReconnect();
    });
    ws.addEventListener("message", onFrame);
  }
  function scheduleReconnect() {
    if (reconnectTimer !== null || socket !== null) return;
    attempts += 1;
    if (attempts > MAX_ATTEMPTS) { setStatus(T.disconnected, "error"); return; }
    const delay = Math.min(30000, 500 * 2 ** (attempts - 1)) * (0.75 + Math.random() / 2);
    setStatus(T.connecting, "error");
    reconnectTimer = setTimeout(connect, delay);
  }
  function reconnectNow() {
    // Back online, or back to the tab: do not wait for the backoff.
    if (socket !== null) return;
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    attempts = 0;
    connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") reconnectNow(); });

  function onFrame(event) {
    const frame = JSON.parse(event.data);
    switch (frame.type) {
      case "battle": remember(frame.battle); break;
      case "resumed": resuming = false; restore(frame); break;
      case "turn_start":
        current = {A: bubble("A", "assistant", ""), B: bubble("B", "assistant", "")};
        current.A.classList.add("streaming"); current.B.classList.add("streaming");
        break;
      case "delta":
        if (current[frame.side]) { current[frame.side].textContent += frame.text; }
        break;
      case "side_done":
        if (current[frame.side]) {
          current[frame.side].innerHTML = frame.html;  // sanitised on the server (nh3)
          current[frame.side].classList.remove("streaming");
          current[frame.side].classList.add("rendered");
        }
        break;
      case "turn_done":
        lock(false);
        if (frame.can_vote) {
          voteForm.hidden = false;
          setStatus(frame.stopped ? T.stopped + " " + T.voteNow : T.voteNow);
        } else if (frame.status === "failed") {
          remember(null);
          promptEl.disabled = true; sendBtn.disabled = true; voteForm.hidden = true;
        }
        break;
      case "reset": resetView(); break;
      case "error":
        if (resuming) {
          if (frame.code === "battle_busy" && resumeTries < RESUME_TRIES) {
            resumeTries += 1;
            setTimeout(() => send({type: "resume", battle: battleId || storedBattle()}), 2000);
            break;
          }
          resuming = false;
          closedView(frame.message);
          break;
        }
        setStatus(frame.message, "error");
        if (frame.code === "model_failed") { remember(null); }
        break;
    }
  }

  setStatus(T.connecting); lock(true); stopBtn.disabled = true;
  connect();

  $("prompt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = promptEl.value.trim();
    if (!text || answering) return;
    if (!send({type: "prompt", text: text})) return;
    bubble("A", "user", text); bubble("B", "user", text);
    voteForm.hidden = true;
    lock(true); setStatus(T.answering);
    promptEl.value = "";
  });
  promptEl.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("prompt-form").requestSubmit(); }
  });
  stopBtn.addEventListener("click", () => send({type: "stop"}));
  const newBattle = () => send({type: "new_battle"});
  $("new-battle").addEventListener("click", newBattle);
  $("again").addEventListener("click", newBattle);

  // Overall follows content and Basque quality when they agree on a side; the volunteer may override.
  voteForm.addEventListener("change", (event) => {
    if (event.target.name === "overall") { overallTouched = true; return; }
    const content = voteForm.elements.content.value, language = voteForm.elements.language.value;
    if (!overallTouched && content && content === language && content !== "tie") {
      voteForm.querySelector('input[name="overall"][value="' + content + '"]').checked = true;
    }
  });
  voteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!battleId) return;
    $("submit-vote").disabled = true;
    let response, data;
    try {
      response = await fetch("/battle/" + battleId + "/vote/", {
        method: "POST", body: new FormData(voteForm), credentials: "same-origin",
        headers: {"X-CSRFToken": voteForm.elements.csrfmiddlewaretoken.value},
      });
      data = await response.json();
    } catch (error) {  // offline: the battle stays in sessionStorage, so a reload brings it back to vote
      $("submit-vote").disabled = false;
      setStatus(T.disconnected, "error");
      return;
    }
    $("submit-vote").disabled = false;
    if (!response.ok) { setStatus(data.message, "error"); return; }
    remember(null);  // voted: nothing left to resume
    voteForm.hidden = true; overallTouched = false;
    promptEl.disabled = true; sendBtn.disabled = true;
    for (const side of ["A", "B"]) {
      const info = data.reveal[side];
      $("reveal-" + side).textContent = info.name + (info.description ? " — " + info.description : "") +
        " (" + T.temperature + " " + info.temperature + ")";
    }
    revealEl.hidden = false;
    setStatus(T.thanks);
  });
})();
