// Admin "test a model" page: posts the prompt, shows the NDJSON stream as it arrives, then the timings.
// A static file: the Content-Security-Policy allows no inline scripts. Translated labels come from
// the form's data attributes.
(() => {
  const form = document.getElementById("try-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = document.getElementById("try-answer"), timings = document.getElementById("try-timings");
    answer.textContent = ""; timings.textContent = "…";
    const response = await fetch(form.action, {method: "POST", body: new FormData(form)});
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const item = JSON.parse(buffer.slice(0, cut)); buffer = buffer.slice(cut + 1);
        if (item.delta) answer.textContent += item.delta;
        if (item.error) timings.textContent = form.dataset.errorLabel + ": " + item.error;
        if (item.done) {
          timings.textContent = `TTFT ${item.ttft_ms} ms · ${item.tokens} tokens · ${item.tokens_per_s ?? "–"} tokens/s`
            + ` · ${item.duration_ms} ms · ${item.finish_reason}`;
        }
      }
    }
  });
})();
