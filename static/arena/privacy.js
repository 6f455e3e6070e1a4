// Looks for personal data in a prompt before it is sent, so the volunteer can edit it or send it anyway.
// Patterns only, run in the browser: nothing leaves the page until the volunteer decides. They aim at
// the common forms (Spanish and French numbers and IDs, IBANs, street addresses in eu/es/fr) and
// accept a few false alarms rather than miss the obvious cases; the warning never blocks sending.
(function () {
  "use strict";
  const PATTERNS = {
    email: /[^\s@<>()]+@[^\s@<>()]+\.[a-z]{2,}/i,
    // +34 / +33 prefixes optional; Spanish 6xx/7xx/8xx/9xx numbers of 9 digits, French 0X XX XX XX XX.
    phone: /(?:^|[^\d])(?:(?:\+|00)3[34][\s.-]?)?(?:[6-9]\d{2}(?:[\s.-]?\d{2,3}){3}|[6-9]\d{8}|0[1-9](?:[\s.-]?\d{2}){4})(?!\d)/,
    // DNI (8 digits + letter), NIE (X/Y/Z + 7 digits + letter), French NIR (13 digits, optionally +2).
    id_number: /\b(?:\d{8}[\s-]?[A-HJ-NP-TV-Z]|[XYZ][\s-]?\d{7}[\s-]?[A-HJ-NP-TV-Z]|[12][\s]?\d{2}[\s]?(?:0[1-9]|1[0-2])[\s]?(?:\d{2}|2[AB])[\s]?\d{3}[\s]?\d{3}(?:[\s]?\d{2})?)\b/i,
    iban: /\b[A-Z]{2}\d{2}(?:[\s]?[A-Z0-9]{4}){3,7}(?:[\s]?[A-Z0-9]{1,3})?\b/,
    address: /(?:\b(?:kalea|kalean|etorbidea|etorbidean|pasealekua|calle|c\/|avenida|avda\.?|paseo|plaza|rue|avenue|boulevard|bd)\b[^\n,.]{0,40}?\b\d{1,4}\b|\b\d{1,4}[\s,]+(?:rue|avenue|boulevard)\b|\b\d{5}\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+)/i,
  };
  function detect(text) {
    return Object.keys(PATTERNS).filter((kind) => PATTERNS[kind].test(text));
  }
  window.ArenaPrivacy = {detect: detect};
})();
