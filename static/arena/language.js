// The language switcher submits its form as soon as a language is picked (a static file: the
// Content-Security-Policy allows no inline event handlers). Without JavaScript its button does it.
document.querySelectorAll("select[data-submit-on-change]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
