// API tokens: list, create (the secret is shown once), revoke.

import { busy, confirmDialog, field, formatTime, h, replace, toast } from "../dom.js";

export function mountTokens({ store, api }) {
  const name = h("input", { type: "text", name: "name", maxlength: 64, autocomplete: "off", placeholder: "Kitchen tablet" });
  const create = h("button", { type: "submit", class: "btn primary" }, "Create token");
  const created = h("div", { id: "token-created", "aria-live": "polite" });
  const form = h("form", { novalidate: true },
    field("New token for", name, { name: "name" }),
    h("div", { class: "form-error error", role: "alert" }),
    h("div", { class: "row end" }, create),
    created);
  const list = h("ul", { class: "list", id: "token-list", "aria-label": "Tokens" });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create, async () => {
      const label = name.value.trim();
      if (!label) throw Object.assign(new Error("Say who or what the token is for."), { field: "name" });
      const result = await api.post("/tokens", { name: label });
      name.value = "";
      const secret = result?.token ?? "";
      const copy = h("button", { type: "button", class: "btn" }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(secret);
          toast("Copied");
        } catch {
          toast("Select the token and copy it by hand.", { error: true });
        }
      });
      replace(created,
        h("p", { class: "small" }, "Copy this token now: it is not shown again."),
        h("div", { class: "secret", id: "token-secret" }, secret),
        h("div", { class: "row end" }, copy));
      await store.load("tokens");
    }, form);
  });

  store.on("tokens", (tokens) => {
    tokens = Array.isArray(tokens) ? tokens : [];
    if (!tokens.length) {
      replace(list, h("li", { class: "empty" }, "No tokens."));
      return;
    }
    replace(list, tokens.map((t) => {
      const revoke = h("button", { type: "button", class: "btn danger", "aria-label": `Revoke ${t.name}` }, "Revoke");
      revoke.addEventListener("click", async () => {
        if (!(await confirmDialog(`Revoke the token “${t.name}”? Apps using it lose access.`, { ok: "Revoke" }))) return;
        await busy(revoke, async () => {
          await api.delete(`/tokens/${encodeURIComponent(t.id)}`);
          await store.load("tokens");
        });
      });
      return h("li", { dataset: { id: t.id } },
        h("div", { class: "grow" }, h("div", { class: "title" }, t.name),
          h("div", { class: "small muted" }, `created ${formatTime(t.created_at)}`,
            t.last_used_at ? ` · last used ${formatTime(t.last_used_at)}` : " · never used")),
        revoke);
    }));
  });

  return h("div", { class: "card", "aria-labelledby": "tokens-title" },
    h("h3", { id: "tokens-title" }, "API tokens"), list, form);
}
