// Battle page: streams both answers over one WebSocket, then posts the vote.
// Model output is shown with textContent while streaming; the server's sanitised HTML replaces it
// when a side finishes. Nothing here ever learns a model's identity before the vote response.
(function () {
  "use strict";
  const root = document.getElementById("battle");
  if (!root) return;
  const T = JSON.parse(document.getElementById("battle-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const statusEl = $("status"), promptEl = $("prompt"), sendBtn = $("send"), stopBtn = $("stop");
  const voteForm = $("vote-form"), revealEl = $("reveal");
  let battleId = null, answering = false, current = {};

  function setStatus(text, kind) { statusEl.textContent = text; statusEl.className = "notice " + (kind || ""); }
  function lock(on) {
    answering = on; promptEl.disabled = on; sendBtn.disabled = on; stopBtn.disabled = !on;
    $("new-battle").disabled = on;
  }
  function bubble(side, role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text || "";
    $("log-" + side).appendChild(div);
    div.scrollIntoView({block: "end"});
    return div;
  }
  function resetView() {
    battleId = null; current = {};
    $("log-A").textContent = ""; $("log-B").textContent = "";
    voteForm.hidden = true; voteForm.reset(); revealEl.hidden = true;
    promptEl.disabled = false; sendBtn.disabled = false;
    setStatus(T.ready);
  }

  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
  setStatus(T.connecting); lock(true); stopBtn.disabled = true;
  socket.addEventListener("open", () => { lock(false); setStatus(T.ready); });
  socket.addEventListener("close", () => { lock(true); stopBtn.disabled = true; setStatus(T.disconnected, "error"); });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    switch (frame.type) {
      case "battle": battleId = frame.battle; break;
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
          promptEl.disabled = true; sendBtn.disabled = true; voteForm.hidden = true;
        }
        break;
      case "reset": resetView(); break;
      case "error":
        setStatus(frame.message, "error");
        if (frame.code === "model_failed") { battleId = null; }
        break;
    }
  });

  $("prompt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = promptEl.value.trim();
    if (!text || answering) return;
    bubble("A", "user", text); bubble("B", "user", text);
    voteForm.hidden = true;
    lock(true); setStatus(T.answering);
    socket.send(JSON.stringify({type: "prompt", text: text}));
    promptEl.value = "";
  });
  promptEl.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("prompt-form").requestSubmit(); }
  });
  stopBtn.addEventListener("click", () => socket.send(JSON.stringify({type: "stop"})));
  const newBattle = () => socket.send(JSON.stringify({type: "new_battle"}));
  $("new-battle").addEventListener("click", newBattle);
  $("again").addEventListener("click", newBattle);

  // Overall follows content and Basque quality when they agree on a side; the volunteer may override.
  let overallTouched = false;
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
    const response = await fetch("/battle/" + battleId + "/vote/", {
      method: "POST", body: new FormData(voteForm), credentials: "same-origin",
      headers: {"X-CSRFToken": voteForm.elements.csrfmiddlewaretoken.value},
    });
    const data = await response.json();
    $("submit-vote").disabled = false;
    if (!response.ok) { setStatus(data.message, "error"); return; }
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
