// Latchkey's one script: passkey ceremonies and small enhancements. Vanilla ES2020, no build
// step; every page works without it except the WebAuthn ceremony itself. Loaded with `defer`
// by render_card_with_script / render_app_with_script; under `script-src 'self'`, so pages
// carry no inline script or event handler: they opt in with these attributes.
//
// PASSKEYS — <button type="button" data-passkey="register|login|reauthenticate"
//   data-start="/api/webauthn/…/start" data-finish="/api/webauthn/…/finish">
//   Click: POST data-start (JSON body: the named fields marked data-passkey-field in the
//   button's form, else {}) → {"publicKey": options} → navigator.credentials.create (register)
//   or .get → POST data-finish with credential.toJSON() → 2xx {"redirect": URL}: go there if
//   it is on this origin, else reload. Non-2xx answers are {"error": text, "code": code}; the
//   sentence for the code (or the text) goes to the nearest [data-passkey-status] (give it
//   role="status" aria-live="polite"), with data-tone="error". While it runs the button is
//   disabled and aria-busy="true". Without WebAuthn the button is disabled and says why.
// AUTOFILL — a page with input[autocomplete~="webauthn"] and a [data-passkey="login"] button
//   starts a conditional (autofill) request on load when the browser offers one; pressing the
//   button aborts it and starts a modal one. An aborted conditional request stays silent.
// COPY — <button type="button" data-copy="ID" hidden>: copies #ID's value (or text), says
//   "Copied" for 2 s in the button (its last <span>, else the whole text) and in a live
//   region. Give it `hidden`: the script shows it only when the clipboard is available.
//   input.copy selects its whole value when focused.
// UPLOAD — <form method="post" action=URL data-upload> with one input[type=file] and the
//   hidden csrf_token: the chosen file is POSTed as the raw body (its own Content-Type), the
//   token in X-CSRF-Token; 2xx: reload; else the answer's {"error": text} goes to the form's
//   [data-upload-status] with data-tone="error". Without the script the browser posts a
//   multipart form, which the server answers with a page saying the script is needed.
// NO-JS — the script adds class "js" to <html>: [data-hide-without-js] shows only after
//   that, [data-show-without-js] only until then.
"use strict";
(() => {
  document.documentElement.classList.add("js");

  const SERVER = {
    invalid_webauthn_session: "This sign-in request expired. Try again.",
    webauthn_authentication_failed:
      "This passkey was not accepted. It may belong to an account that was removed, or to another site.",
    passkey_user_verification_required:
      "Your passkey must verify it's you (PIN, fingerprint or face). Set a PIN on your security key and try again.",
    synced_passkey_not_allowed:
      "This server accepts only passkeys kept on one device (not synced). Use a security key or a device-bound passkey.",
    user_disabled: "This account is disabled. Ask your administrator.",
    rate_limited: "Too many attempts. Wait a minute and try again.",
  };
  const BROWSER = {
    NotAllowedError: "The passkey prompt was closed or timed out. Try again.",
    SecurityError:
      "This page's address does not match the server's configured URL, so passkeys cannot be used here.",
  };
  const NO_WEBAUTHN = "This browser cannot use passkeys.";
  const UNREACHABLE = "The server could not be reached. Check your connection and try again.";
  const WAITING = "Follow your browser's prompt to use your passkey.";

  class ServerError extends Error {
    constructor(code, text) { super(text || ""); this.code = code; } // prettier-ignore
  }

  // The first match of `selector` inside `el` or its closest ancestor that has one.
  const nearest = (el, selector) => {
    for (let n = el; n; n = n.parentElement) {
      const found = n.matches(selector) ? n : n.querySelector(selector);
      if (found) return found;
    }
    return null;
  };

  const say = (button, text, tone) => {
    const status = nearest(button, "[data-passkey-status]");
    if (!status) return;
    status.textContent = text;
    status.toggleAttribute("data-tone", !!tone);
    if (tone) status.dataset.tone = tone;
  };

  const webauthn = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

  // base64url <-> ArrayBuffer, for browsers without the JSON helpers.
  const toBytes = (s) =>
    Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
  const toB64 = (buf) =>
    buf == null
      ? buf
      : btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  const parseOptions = (kind, o) => {
    const P = window.PublicKeyCredential;
    if (kind === "register") {
      if (P.parseCreationOptionsFromJSON) return P.parseCreationOptionsFromJSON(o);
      return { ...o, challenge: toBytes(o.challenge), user: { ...o.user, id: toBytes(o.user.id) }, excludeCredentials: withIds(o.excludeCredentials) };
    }
    if (P.parseRequestOptionsFromJSON) return P.parseRequestOptionsFromJSON(o);
    return { ...o, challenge: toBytes(o.challenge), allowCredentials: withIds(o.allowCredentials) };
  };

  const credentialJSON = (c) => {
    if (typeof c.toJSON === "function") return c.toJSON();
    const r = c.response;
    const response = { clientDataJSON: toB64(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
      if (r.getAuthenticatorData) response.authenticatorData = toB64(r.getAuthenticatorData());
      if (r.getPublicKey) response.publicKey = toB64(r.getPublicKey());
      if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      response.authenticatorData = toB64(r.authenticatorData);
      response.signature = toB64(r.signature);
      if (r.userHandle) response.userHandle = toB64(r.userHandle);
    }
    return {
      id: c.id,
      rawId: toB64(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response,
    };
  };

  const post = async (url, body) => {
    let res;
    try {
      res = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      throw new ServerError("unreachable", UNREACHABLE);
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new ServerError(data.code, data.error || `The server answered ${res.status}. Try again.`);
    return data;
  };

  const fields = (button) => {
    const body = {};
    const form = button.form || button.closest("form");
    if (!form) return body;
    for (const el of form.querySelectorAll("[data-passkey-field][name]")) {
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) continue;
      body[el.name] = el.value;
    }
    return body;
  };

  // Only to this origin: a finish answer must not send the person elsewhere.
  const go = (target) => {
    try {
      const url = typeof target === "string" && target && new URL(target, location.href);
      if (url && url.origin === location.origin) return location.assign(url.href);
    } catch {
      // not a URL: reload below
    }
    location.reload();
  };

  const message = (err, kind) => {
    if (err instanceof ServerError) return SERVER[err.code] || err.message;
    if (kind === "register" && err && err.name === "InvalidStateError")
      return "This passkey is already registered to your account.";
    const name = err && err.name === "AbortError" ? "NotAllowedError" : err && err.name;
    return BROWSER[name] || `Your passkey could not be used (${(err && err.name) || "error"}). Try again.`;
  };

  // One ceremony; `signal`/`mediation` for the conditional one. Resolves after navigating.
  const ceremony = async (button, signal, mediation) => {
    const kind = button.dataset.passkey;
    const start = await post(button.dataset.start, fields(button));
    const publicKey = parseOptions(kind, start.publicKey);
    const credential =
      kind === "register"
        ? await navigator.credentials.create({ publicKey })
        : await navigator.credentials.get({ publicKey, signal, mediation });
    if (!credential) throw new DOMException("", "NotAllowedError");
    const done = await post(button.dataset.finish, credentialJSON(credential));
    go(done.redirect);
  };

  let conditional = null; // the AbortController of a pending autofill request

  const onPasskey = async (button) => {
    if (conditional) {
      conditional.abort();
      conditional = null;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    say(button, WAITING);
    try {
      await ceremony(button);
      return; // navigating away: stay busy
    } catch (err) {
      say(button, message(err, button.dataset.passkey), "error");
    }
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (button.dataset.passkey === "login") startConditional(button);
  };

  const startConditional = async (button) => {
    const P = window.PublicKeyCredential;
    if (!document.querySelector('input[autocomplete~="webauthn"]') || !P.isConditionalMediationAvailable) return;
    if (!(await P.isConditionalMediationAvailable().catch(() => false))) return;
    const controller = new AbortController();
    conditional = controller;
    try {
      await ceremony(button, controller.signal, "conditional");
    } catch (err) {
      if (!controller.signal.aborted) say(button, message(err, "login"), "error");
    } finally {
      if (conditional === controller) conditional = null;
    }
  };

  const buttons = document.querySelectorAll("button[data-passkey]");
  for (const button of buttons) {
    if (!webauthn) {
      button.disabled = true;
      say(button, NO_WEBAUTHN, "error");
      continue;
    }
    button.addEventListener("click", (e) => {
      e.preventDefault();
      onPasskey(button);
    });
  }
  const login = webauthn && document.querySelector('button[data-passkey="login"]');
  if (login) startConditional(login);

  // Copy buttons.
  const copyButtons = document.querySelectorAll("button[data-copy]");
  if (copyButtons.length && navigator.clipboard && navigator.clipboard.writeText) {
    const live = document.createElement("div");
    live.className = "visually-hidden";
    live.setAttribute("role", "status");
    live.setAttribute("aria-live", "polite");
    document.body.append(live);
    for (const button of copyButtons) {
      button.hidden = false;
      const label = button.querySelector("span:last-of-type") || button;
      const original = label.innerHTML; // our own markup (an icon, a word)
      let timer = 0;
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copy);
        if (!source) return;
        const text = "value" in source ? source.value : source.textContent;
        try {
          await navigator.clipboard.writeText(text);
          label.textContent = live.textContent = "Copied";
        } catch {
          live.textContent = "Copying failed: select the text and copy it.";
          if (source.select) source.select();
        }
        clearTimeout(timer);
        timer = setTimeout(() => {
          label.innerHTML = original;
          live.textContent = "";
        }, 2000);
      });
    }
  } else {
    for (const button of copyButtons) button.hidden = true;
  }

  for (const input of document.querySelectorAll("input.copy")) {
    input.addEventListener("focus", () => input.select());
  }

  // Uploads (a client's logo).
  for (const form of document.querySelectorAll("form[data-upload]")) {
    const status = form.querySelector("[data-upload-status]");
    const say = (text) => {
      if (!status) return;
      status.textContent = text;
      status.dataset.tone = "error";
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = form.querySelector('input[type="file"]');
      const file = input && input.files && input.files[0];
      if (!file) {
        say("Choose an image first.");
        return;
      }
      const button = form.querySelector('button[type="submit"]');
      if (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      }
      try {
        const r = await fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": file.type || "application/octet-stream",
            "X-CSRF-Token": form.elements.csrf_token ? form.elements.csrf_token.value : "",
          },
          body: file,
        });
        if (r.ok) {
          location.reload();
          return;
        }
        const body = await r.json().catch(() => ({}));
        say(body.error || "The file could not be saved.");
      } catch {
        say("The file could not be sent. Check the connection and try again.");
      } finally {
        if (button) {
          button.disabled = false;
          button.removeAttribute("aria-busy");
        }
      }
    });
  }
})();
