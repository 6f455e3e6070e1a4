// Battle page: streams both answers over one WebSocket, then sends the vote over it (a "vote" frame,
// answered with "voted" and the reveal, or an error, carrying its request number); when the socket is
// closed or the answer is late it posts the vote instead (a stored vote sent again is answered again).
// Model output is shown with textContent while streaming; the server's sanitised HTML replaces it
// when a side finishes. Nothing here ever learns a model's identity before the vote response.
// A dropped socket (a phone losing its signal, a server restart) is reopened with backoff, and the
// battle is taken back with a "resume" frame: the server answers with the conversation so far per side
// and whether it can be voted. The battle's id is kept in sessionStorage, so a reload resumes it too.
// Every error frame leaves the page usable: a prompt the server refused before its turn started
// (rate limit, no models, too many turns…) is taken back into the message box and the page returns
// to where it was before the prompt was sent.
(function () {
  "use strict";
  const root = document.getElementById("battle");
  if (!root) return;
  const T = JSON.parse(document.getElementById("battle-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const statusEl = $("status"), promptEl = $("prompt"), sendBtn = $("send"), stopBtn = $("stop");
  const voteForm = $("vote-form"), revealEl = $("reveal"), promptForm = $("prompt-form");
  const STORE = "arena.battle";  // this tab's unvoted battle
  const MAX_ATTEMPTS = 10;  // reconnects in a row (about 2.5 minutes) before asking for a reload
  const RESUME_TRIES = 5;  // resumes refused as "battle_busy" (the cut turn is still being stored)
  // Refusals after which this battle takes no more prompts (only "New battle" or the vote remain).
  const CLOSED_CODES = ["battle_closed", "not_resumable"];
  const VOTE_ANSWER_MS = 5000;  // a vote frame unanswered this long is posted over HTTP instead
  const voteWaiters = new Map();  // request number -> its answer's handler
  let nextRequest = 1;
  let socket = null, battleId = null, answering = false, current = {};
  let votable = false;  // the battle can be voted (the form is hidden only while a prompt is in flight)
  let pending = null;  // a prompt sent whose turn has not started: {text, bubbles}
  let attempts = 0, reconnectTimer = null, resuming = false, resumeTries = 0;
  // Reactions: the battle they go to (kept after the vote, unlike battleId) and the turn streaming now.
  let reactBattle = null, currentTurn = 0;

  function setStatus(text, kind) { statusEl.textContent = text; statusEl.className = "notice " + (kind || ""); }
  function lock(on) {
    answering = on; promptEl.disabled = on; sendBtn.disabled = on; stopBtn.disabled = !on;
    $("new-battle").disabled = on;
    for (const side of ["A", "B"]) $("log-" + side).setAttribute("aria-busy", on ? "true" : "false");
  }
  function remember(id) {
    battleId = id;
    if (id) reactBattle = id;
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
    div.scrollIntoView({block: "nearest"});
    return div;
  }
  function showVote(on) {
    const opening = on && voteForm.hidden;
    voteForm.hidden = !on;
    if (opening) $("vote-title").focus();  // answers finished: the keyboard goes to the vote
  }
  function endStreaming(note) {
    // Whatever still streams has ended (stopped, failed, cut): no cursor may blink on.
    for (const div of Object.values(current)) {
      if (!div.classList.contains("streaming")) continue;
      div.classList.remove("streaming");
      if (!div.textContent.trim() && note) { div.textContent = note; div.classList.add("no-answer"); }
    }
  }
  function clearLogs() {
    $("log-A").textContent = ""; $("log-B").textContent = ""; current = {}; pending = null; reactBattle = battleId;
    for (const side of ["A", "B"]) $("name-" + side).textContent = "";
  }
  function resetView() {
    remember(null); clearLogs(); votable = false;
    showVote(false); voteForm.reset(); window.ArenaVoteForm.refresh(); revealEl.hidden = true; promptForm.hidden = false;
    $("examples").hidden = false;
    lock(false);
    setStatus(T.ready);
    promptEl.focus();
  }
  function closedView(message) {
    // The battle cannot go on (failed, abandoned): its text stays on screen; only "New battle" works.
    remember(null); votable = false; endStreaming(T.noAnswer);
    lock(false); promptEl.disabled = true; sendBtn.disabled = true; showVote(false);
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
          addReactions(side, turn.turn, div);
        }
      }
    }
    loadReactions();
    $("examples").hidden = frame.turns.length > 0;
    lock(false);
    votable = frame.can_vote;
    voteForm.hidden = !votable;  // no focus move: the page is only taking back what it showed
    setStatus(votable ? T.voteNow : T.ready);
  }
  function takeBackPending() {
    // The server refused the prompt before its turn started: undo what sending it changed.
    if (!pending) return false;
    for (const div of pending.bubbles) div.remove();
    if (!promptEl.value) promptEl.value = pending.text;  // nothing typed is lost
    pending = null;
    return true;
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
      for (const answered of [...voteWaiters.values()]) answered(null);  // their votes go over HTTP
      takeBackPending(); endStreaming("");
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

  function onError(frame) {
    if (resuming) {
      if (frame.code === "battle_busy" && resumeTries < RESUME_TRIES) {
        resumeTries += 1;
        setTimeout(() => send({type: "resume", battle: battleId || storedBattle()}), 2000);
        return;
      }
      resuming = false;
      closedView(frame.message);
      return;
    }
    if (frame.code === "model_failed") {  // turn_done (status "failed") follows and closes the battle
      remember(null); votable = false; endStreaming(T.noAnswer);
      setStatus(frame.message, "error");
      return;
    }
    const refusedPrompt = takeBackPending();
    if (CLOSED_CODES.includes(frame.code)) { closedView(frame.message); return; }
    if (refusedPrompt && frame.code !== "busy") {
      // Back to the state before the prompt: still votable if it was (e.g. "too many turns").
      lock(false);
      showVote(votable);
    }
    setStatus(frame.message, "error");
  }

  function onFrame(event) {
    const frame = JSON.parse(event.data);
    if (frame.request !== undefined) {  // a vote's answer; one that came too late is dropped (posted meanwhile)
      const answered = voteWaiters.get(frame.request);
      if (answered) answered(frame);
      return;
    }
    switch (frame.type) {
      case "battle": remember(frame.battle); break;
      case "resumed": resuming = false; restore(frame); break;
      case "turn_start":
        pending = null; currentTurn = frame.turn;
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
          addReactions(frame.side, currentTurn, current[frame.side]);
        }
        break;
      case "turn_done":
        endStreaming(frame.stopped ? T.stoppedEmpty : T.noAnswer);
        lock(false);
        votable = frame.can_vote;
        if (frame.can_vote) {
          // A side stopped by the volunteer has no side_done: its stored answer can take reactions too.
          for (const side of ["A", "B"]) if (current[side]) addReactions(side, currentTurn, current[side]);
          setStatus(frame.stopped ? T.stoppedVoteNow : T.voteNow);
          showVote(true);
        } else if (frame.status === "failed") {
          remember(null);
          promptEl.disabled = true; sendBtn.disabled = true; showVote(false);
          $("new-battle").focus();
        } else {
          setStatus(T.ready);
        }
        break;
      case "reset": resetView(); break;
      case "error": onError(frame); break;
    }
  }

  setStatus(T.connecting); lock(true); stopBtn.disabled = true;
  connect();

  // ------------------------------------------------------------ sending a prompt
  function sendPrompt(text) {
    if (!send({type: "prompt", text: text})) return;
    pending = {text: text, bubbles: [bubble("A", "user", text), bubble("B", "user", text)]};
    $("examples").hidden = true; $("guide").open = false;  // the answers and the vote need the room
    voteForm.hidden = true; hidePrivacyWarning();
    lock(true); setStatus(T.answering);
    promptEl.value = "";
  }
  let warnedText = null;  // the text the volunteer chose to send despite the warning
  function hidePrivacyWarning() { $("privacy-warning").hidden = true; }
  promptForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = promptEl.value.trim();
    if (!text || answering) return;
    const kinds = window.ArenaPrivacy ? window.ArenaPrivacy.detect(text) : [];
    if (kinds.length && warnedText !== text) {
      $("privacy-text").textContent = T.privacyWarning + " " + kinds.map((kind) => T.privacyKinds[kind]).join(", ") + ".";
      $("privacy-warning").hidden = false;
      $("privacy-edit").focus();
      return;
    }
    warnedText = null;
    sendPrompt(text);
  });
  $("privacy-edit").addEventListener("click", () => { hidePrivacyWarning(); promptEl.focus(); });
  $("privacy-send").addEventListener("click", () => {
    warnedText = promptEl.value.trim();
    promptForm.requestSubmit();
  });
  promptEl.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); promptForm.requestSubmit(); }
  });
  for (const button of document.querySelectorAll("button.example")) {
    button.addEventListener("click", () => { promptEl.value = button.dataset.prompt; promptEl.focus(); });
  }
  stopBtn.addEventListener("click", () => send({type: "stop"}));
  const newBattle = () => send({type: "new_battle"});
  $("new-battle").addEventListener("click", newBattle);
  $("again").addEventListener("click", newBattle);

  // ------------------------------------------------------------ reactions to one answer (optional, toggled)
  const reactionBars = {};  // "turn-side" -> its bar: one per answer
  function addReactions(side, turn, afterDiv) {
    const key = turn + "-" + side;
    if (reactionBars[key] && reactionBars[key].isConnected) return;
    const bar = document.createElement("div");
    bar.className = "reactions";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", T.reactionsLabel);
    for (const kind of Object.keys(T.reactions)) {
      const button = document.createElement("button");
      button.type = "button"; button.className = "reaction";
      button.dataset.side = side; button.dataset.turn = String(turn); button.dataset.kind = kind;
      button.setAttribute("aria-pressed", "false");
      button.textContent = T.reactions[kind];
      bar.appendChild(button);
    }
    afterDiv.after(bar);
    reactionBars[key] = bar;
  }
  function pressed(side, turn, kind, on) {
    const bar = reactionBars[turn + "-" + side];
    const button = bar && bar.querySelector('button[data-kind="' + kind + '"]');
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }
  async function loadReactions() {
    // A resumed battle: show which reactions this volunteer had already given.
    if (!reactBattle) return;
    try {
      const response = await fetch("/battle/" + reactBattle + "/react/", {credentials: "same-origin"});
      if (!response.ok) return;
      for (const r of (await response.json()).reactions) pressed(r.side, r.turn, r.kind, true);
    } catch (error) { /* offline: the buttons still work once it is back */ }
  }
  async function react(button) {
    if (!reactBattle || button.disabled) return;
    const body = new FormData();
    body.append("side", button.dataset.side); body.append("turn", button.dataset.turn);
    body.append("kind", button.dataset.kind);
    button.disabled = true;
    try {
      const response = await fetch("/battle/" + reactBattle + "/react/", {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": voteForm.elements.csrfmiddlewaretoken.value},
      });
      const data = await response.json();
      if (response.ok) button.setAttribute("aria-pressed", data.active ? "true" : "false");
      else setStatus(data.message, "error");
    } catch (error) {
      setStatus(T.disconnected, "error");
    } finally {
      button.disabled = false;
    }
  }
  for (const side of ["A", "B"]) {
    $("log-" + side).addEventListener("click", (event) => {
      const button = event.target.closest("button.reaction");
      if (button) react(button);
    });
  }

  // ------------------------------------------------------------ what the vote revealed
  function definitions(lines) {
    const dl = document.createElement("dl");
    for (const line of lines) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = line.label; dd.textContent = line.value;
      dl.append(dt, dd);
    }
    return dl;
  }
  function showCard(side, info) {
    // Everything as text: names and descriptions are typed by admins, never trusted as HTML.
    $("card-title-" + side).textContent = side + ": " + info.name;
    const body = $("card-" + side);
    body.textContent = "";
    if (!info.card) return;
    body.appendChild(definitions(info.card.lines));
    const link = document.createElement("a");
    link.href = info.card.leaderboard_url; link.textContent = T.leaderboardLink;
    body.appendChild(link);
    const figuresTitle = document.createElement("h4");
    figuresTitle.textContent = T.figuresTitle;
    body.append(figuresTitle, definitions(info.figures.lines));
    if (info.energy) {
      const energy = document.createElement("p");
      energy.className = "energy";
      energy.textContent = info.energy.text + " ";
      const source = document.createElement("small");
      source.textContent = info.energy.source_text;
      energy.appendChild(source);
      body.appendChild(energy);
    }
  }

  // ------------------------------------------------------------ the vote (its form's own behaviour: vote_form.js)
  function voteOverSocket(battle) {
    // Resolves with the server's answer frame, or null: socket closed, or no answer in time.
    return new Promise((resolve) => {
      const request = nextRequest++;
      const frame = {type: "vote", battle: battle, request: request};
      for (const name of ["content", "language", "overall"]) frame[name] = voteForm.elements[name].value;
      const timer = setTimeout(() => answered(null), VOTE_ANSWER_MS);
      function answered(answer) { clearTimeout(timer); voteWaiters.delete(request); resolve(answer); }
      voteWaiters.set(request, answered);
      if (!send(frame)) answered(null);
    });
  }
  async function castVote(battle) {
    // {reveal} once stored; {message} when refused; null when offline.
    const answer = await voteOverSocket(battle);
    if (answer && answer.type === "voted") return {reveal: answer.reveal};
    if (answer && answer.code !== "server_error") return {message: answer.message};
    try {  // no answer, or the socket path failed: the same vote over HTTP (a stored one is answered again)
      const response = await fetch("/battle/" + battle + "/vote/", {
        method: "POST", body: new FormData(voteForm), credentials: "same-origin",
        headers: {"X-CSRFToken": voteForm.elements.csrfmiddlewaretoken.value},
      });
      const data = await response.json();
      return response.ok ? {reveal: data.reveal} : {message: data.message};
    } catch (error) {
      return null;
    }
  }

  voteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!battleId) return;
    const unanswered = ["content", "language", "overall"].filter((name) => !voteForm.elements[name].value);
    if (unanswered.length) {
      $("vote-error").textContent = T.answerAll; $("vote-error").hidden = false;
      voteForm.querySelector('fieldset[data-question="' + unanswered[0] + '"] input').focus();
      return;
    }
    $("vote-error").hidden = true;
    $("submit-vote").disabled = true;
    const data = await castVote(battleId);
    $("submit-vote").disabled = false;
    if (!data) {  // offline: the battle stays in sessionStorage, so a reload brings it back to vote
      setStatus(T.disconnected, "error");
      return;
    }
    if (!data.reveal) { setStatus(data.message, "error"); return; }
    remember(null); votable = false;  // voted: nothing left to resume
    const chosen = {content: voteForm.elements.content.value, language: voteForm.elements.language.value,
                    overall: voteForm.elements.overall.value};
    voteForm.hidden = true; promptForm.hidden = true;
    for (const side of ["A", "B"]) {
      const info = data.reveal[side];
      $("name-" + side).textContent = ": " + info.name;
      $("reveal-" + side).textContent = info.name + (info.description ? " — " + info.description : "");
      showCard(side, info);
    }
    $("vote-effect").textContent = data.reveal.vote ? data.reveal.vote.text : "";
    $("reveal-choice").textContent = T.yourChoice + " " + ["content", "language", "overall"].map(
      (name) => T.questions[name] + ": " + T.choices[chosen[name]]).join("; ") + ".";
    revealEl.hidden = false;
    setStatus(T.thanks);
    $("reveal-title").focus();
  });
})();
