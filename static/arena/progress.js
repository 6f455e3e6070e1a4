// Campaign progress: keeps the bar and its sentence up to date from the read-only /ws/progress/ socket.
// The server sends one frame per batch of checked votes; updates are applied at most every
// THROTTLE_MS so that the polite live region does not talk over the page.
(function () {
  "use strict";
  const box = document.querySelector("[data-progress-campaign]");
  const stringsNode = document.getElementById("progress-strings");
  if (!box || !stringsNode || !("WebSocket" in window)) return;
  const strings = JSON.parse(stringsNode.textContent);
  const slug = box.dataset.progressCampaign;
  const THROTTLE_MS = 5000;
  const MAX_RETRY_MS = 60000;
  let pending = null;
  let timer = null;
  let lastApplied = 0;

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key]));
  }

  function setBar(bar, votes) {
    if (!bar) return;
    const max = Number(bar.getAttribute("max")) || 0;
    bar.value = Math.min(votes, max);
    bar.textContent = max ? Math.min(100, Math.floor((votes * 100) / max)) + "%" : "";
  }

  function apply(frame) {
    lastApplied = Date.now();
    setBar(document.getElementById("campaign-progress-bar"), frame.votes);
    const votesText = box.querySelector("[data-progress-votes]");
    if (votesText) {
      votesText.textContent = frame.target > 0
        ? format(strings.votesOfTarget, { votes: frame.votes, target: frame.target })
        : format(strings.votes, { votes: frame.votes });
    }
    const daysText = box.querySelector("[data-progress-days]");
    if (daysText && daysText.textContent.trim()) {
      daysText.textContent = format(frame.days_left === 1 ? strings.dayLeft : strings.daysLeft, { days: frame.days_left });
    }
    box.querySelectorAll("[data-progress-model]").forEach((row) => {
      const counts = (frame.models || {})[row.dataset.progressModel];
      if (!counts) return;
      setBar(row.querySelector("progress"), counts.votes);
      const text = row.querySelector("[data-progress-model-text]");
      if (text) text.textContent = format(strings.modelVotes, { votes: counts.votes, target: row.dataset.target });
    });
  }

  function schedule(frame) {
    pending = frame;  // only the newest frame matters
    if (timer) return;
    const wait = Math.max(0, lastApplied + THROTTLE_MS - Date.now());
    timer = setTimeout(() => { timer = null; apply(pending); }, wait);
  }

  function connect(retryMs) {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + box.dataset.wsPath;
    let socket;
    try { socket = new WebSocket(url); } catch (_error) { return; }
    socket.addEventListener("open", () => { retryMs = 1000; });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_error) { return; }
      if (frame && frame.type === "progress" && frame.campaign === slug) schedule(frame);
    });
    // The numbers on the page stay right until the next vote: reconnect quietly, backing off.
    socket.addEventListener("close", () => {
      setTimeout(() => connect(Math.min(retryMs * 2, MAX_RETRY_MS)), retryMs);
    });
  }

  connect(1000);
})();
