// The battle page's layout and vote form, apart from the socket (battle.js): A/B tabs on phones, the
// first-visit guide, the overall suggestion and the 1/2/3/4 voting keys. battle.js calls
// window.ArenaVoteForm.refresh() after resetting the form.
(function () {
  "use strict";
  const root = document.getElementById("battle");
  if (!root) return;
  const T = JSON.parse(document.getElementById("battle-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const voteForm = $("vote-form");
  const GUIDE_SEEN = "arena.guideSeen";  // the first-visit guide starts folded once seen

  // ------------------------------------------------------------ A/B tabs (phones show one pane at a time)
  const tabs = {A: $("tab-A"), B: $("tab-B")};
  function showPane(side, focus) {
    root.querySelector(".panes").dataset.show = side;
    for (const [name, tab] of Object.entries(tabs)) {
      tab.setAttribute("aria-selected", name === side ? "true" : "false");
      tab.tabIndex = name === side ? 0 : -1;
    }
    if (focus) tabs[side].focus();
  }
  for (const [side, tab] of Object.entries(tabs)) {
    tab.addEventListener("click", () => showPane(side, false));
    tab.addEventListener("keydown", (event) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) {
        event.preventDefault(); showPane(side === "A" ? "B" : "A", true);
      }
    });
  }

  // ------------------------------------------------------------ the first-visit guide
  const guide = $("guide");
  try {
    if (localStorage.getItem(GUIDE_SEEN)) guide.open = false;
    localStorage.setItem(GUIDE_SEEN, "1");
  } catch (error) { /* storage disabled: the guide stays open */ }

  // ------------------------------------------------------------ the vote form
  // When content and Basque quality agree on a side, overall is suggested, never filled in silently.
  function suggestedOverall() {
    const content = voteForm.elements.content.value, language = voteForm.elements.language.value;
    return content && content === language && content !== "tie" ? content : "";
  }
  function updateSuggestion() {
    const suggestion = suggestedOverall(), chosen = voteForm.elements.overall.value;
    $("overall-suggestion").hidden = !suggestion || Boolean(chosen);
    if (suggestion) $("overall-suggestion-text").textContent = T.suggestion.replace("%s", T.choices[suggestion]);
  }
  $("use-suggestion").addEventListener("click", () => {
    const suggestion = suggestedOverall();
    if (!suggestion) return;
    const radio = voteForm.querySelector('input[name="overall"][value="' + suggestion + '"]');
    radio.checked = true; radio.focus(); updateSuggestion();
  });
  voteForm.addEventListener("change", updateSuggestion);

  // Shortcuts 1/2/3 (4: both bad) answer the question that has the focus, else the first unanswered one.
  const KEYS = {"1": "A", "2": "tie", "3": "B", "4": "both_bad"};
  document.addEventListener("keydown", (event) => {
    if (voteForm.hidden || event.ctrlKey || event.metaKey || event.altKey || !(event.key in KEYS)) return;
    const target = event.target;
    if (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text")) return;
    const fieldsets = Array.from(voteForm.querySelectorAll("fieldset"));
    let fieldset = target.closest ? target.closest("#vote-form fieldset") : null;
    if (!fieldset) fieldset = fieldsets.find((set) => !voteForm.elements[set.dataset.question].value);
    if (!fieldset) return;
    const radio = fieldset.querySelector('input[value="' + KEYS[event.key] + '"]');
    if (!radio) return;
    event.preventDefault();
    radio.checked = true;
    updateSuggestion();
    const next = fieldsets.slice(fieldsets.indexOf(fieldset) + 1).find((set) => !voteForm.elements[set.dataset.question].value);
    (next ? next.querySelector("input") : $("submit-vote")).focus();
  });

  window.ArenaVoteForm = {refresh: updateSuggestion};
})();
