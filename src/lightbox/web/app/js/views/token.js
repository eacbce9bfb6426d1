// The first-run screen: ask for the API token once. A separate view so that other ways of
// getting a token (a pairing code shown on the matrix) can be added next to this one.

import { Api } from "../api.js";
import { h, replace } from "../dom.js";

/**
 * Show the token form in `root`. `onToken(token)` is called once a token has been
 * checked against the LightBox; a wrong token shows the server's own error.
 */
export function showTokenView(root, { onToken, message = null, pairCode = null }) {
  const input = h("input", {
    type: "password", id: "token", name: "token", autocomplete: "current-password",
    autocapitalize: "off", spellcheck: "false", required: true, "aria-describedby": "token-hint token-error",
  });
  const error = h("div", { class: "field-error", id: "token-error", role: "alert" }, message || "");
  const submit = h("button", { type: "submit", class: "btn primary block" }, "Connect");
  const form = h("form", { class: "card token-card", novalidate: true },
    h("h2", { id: "token-title" }, "Connect to your LightBox"),
    h("div", { class: "field" },
      h("label", { for: "token" }, "API token"),
      input,
      h("div", { class: "hint", id: "token-hint" },
        "Find it in the LightBox's start-up log, or create one with ", h("code", {}, "lightbox edge token create"), "."),
      error),
    submit);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    if (!token) {
      error.textContent = "Enter the token.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await new Api(token).state(); // any authenticated request checks the token
    } catch (err) {
      error.textContent = err.detail || err.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    } finally {
      submit.disabled = false;
    }
    onToken(token);
  });

  const pairing = pairingForm(onToken, pairCode);
  replace(root, pairing.form, form);
  root.hidden = false;
  if (pairCode) pairing.submit();
  else input.focus();
}

/** Pair with a one-time code (from Bluetooth set-up, or shown on the matrix). */
function pairingForm(onToken, initial) {
  const code = h("input", {
    type: "text", id: "pair-code", name: "code", autocomplete: "one-time-code",
    autocapitalize: "characters", spellcheck: "false", placeholder: "XXXX-XXXX",
    "aria-describedby": "pair-hint pair-error", value: initial || "",
  });
  const error = h("div", { class: "field-error", id: "pair-error", role: "alert" });
  const button = h("button", { type: "submit", class: "btn primary block" }, "Pair");
  const form = h("form", { class: "card token-card", novalidate: true },
    h("h2", {}, "Pair with a code"),
    h("div", { class: "field" },
      h("label", { for: "pair-code" }, "Pairing code"),
      code,
      h("div", { class: "hint", id: "pair-hint" },
        "The code from Bluetooth set-up, or the one ", h("code", {}, "lightbox edge pair-code"),
        " prints on the LightBox. It works once."),
      error),
    button);

  async function submit() {
    const value = code.value.trim();
    error.textContent = "";
    if (!value) {
      error.textContent = "Enter the code.";
      code.focus();
      return;
    }
    button.disabled = true;
    try {
      const device = navigator.userAgent.match(/\(([^;)]+)/)?.[1] || "browser";
      const result = await new Api().pair(value, `web app (${device})`.slice(0, 64));
      onToken(result.token);
    } catch (err) {
      error.textContent = err.detail || err.message;
      code.setAttribute("aria-invalid", "true");
      code.focus();
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  return { form, submit };
}
