// The design system in a real browser: serves the gallery rendered by
// `cargo run -p latchkey-web --example ui_gallery` (target/ui-gallery/) under the product's
// Content-Security-Policy, photographs every page light, dark and at 390 px wide into
// target/screenshots/ui-*.png, then checks latchkey.js's contract against a stand-in server
// (start/finish endpoints) with a CDP virtual authenticator: registration and sign-in,
// autofill aborted by the button, error sentences, the same-origin redirect rule, copy buttons,
// no-script and no-WebAuthn fallbacks.
//
// Usage: cargo run -p latchkey-web --example ui_gallery && node e2e/ui_gallery.mjs
// Prints one JSON object; exits 1 when a check failed.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const gallery = path.join(root, "target/ui-gallery");
const shots = path.join(root, "target/screenshots");
fs.mkdirSync(shots, { recursive: true });
const pages = JSON.parse(fs.readFileSync(path.join(gallery, "pages.json"), "utf8"));
const executablePath = process.env.LATCHKEY_CHROMIUM || "/usr/bin/chromium";
const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'";
const TYPES = { ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml" };

// The stand-in server: static files, and WebAuthn endpoints whose answers the checks set.
const seen = { starts: { register: [], login: [] }, finishes: { register: [], login: [] } };
const answers = { register: { status: 200, body: { redirect: "/card-sign-in.html" } }, login: { status: 200, body: { redirect: "/app-secret.html" } } };
let exclude = null;
const issued = {}; // the last challenge of each kind
const b64 = (bytes) => Buffer.from(bytes).toString("base64url");
const options = (kind) =>
  kind === "register"
    ? {
        challenge: b64(crypto.getRandomValues(new Uint8Array(32))),
        rp: { name: "Latchkey", id: "localhost" },
        user: { id: b64(new TextEncoder().encode("alice")), name: "alice", displayName: "Alice Liddell" },
        pubKeyCredParams: [{ type: "public-key", alg: -7 }],
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
        excludeCredentials: exclude ? [{ type: "public-key", id: exclude }] : [],
        timeout: 5000,
      }
    : { challenge: b64(crypto.getRandomValues(new Uint8Array(32))), rpId: "localhost", userVerification: "required", timeout: 5000 };
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const url = new URL(req.url, "http://localhost");
    const api = url.pathname.match(/^\/api\/webauthn\/(register|login)\/(start|finish)$/);
    if (api && req.method === "POST") {
      const [, kind, step] = api;
      const parsed = body ? JSON.parse(body) : null;
      res.setHeader("content-type", "application/json");
      if (step === "start") {
        seen.starts[kind].push({ body: parsed, type: req.headers["content-type"] });
        const publicKey = options(kind);
        issued[kind] = publicKey.challenge;
        return res.end(JSON.stringify({ publicKey }));
      }
      seen.finishes[kind].push(parsed);
      res.statusCode = answers[kind].status;
      return res.end(JSON.stringify(answers[kind].body));
    }
    const file = path.join(gallery, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ""));
    if (!file.startsWith(gallery) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.statusCode = 404;
      return res.end("not found");
    }
    res.setHeader("content-type", TYPES[path.extname(file)] || "application/octet-stream");
    res.setHeader("content-security-policy", CSP);
    res.end(fs.readFileSync(file));
  });
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://localhost:${server.address().port}`;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--host-resolver-rules=MAP localhost 127.0.0.1"],
});
const variants = {
  light: { colorScheme: "light", viewport: { width: 1024, height: 720 } },
  dark: { colorScheme: "dark", viewport: { width: 1024, height: 720 } },
  phone: { colorScheme: "light", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
};
const out = { screenshots: [], console_errors: [], checks: {} };
const failures = [];
const check = (name, ok, detail) => {
  out.checks[name] = ok ? "ok" : `FAILED: ${JSON.stringify(detail)}`;
  if (!ok) failures.push(name);
};
const watch = (page) => {
  // Error answers from the stand-in API are the browser's "failed to load" lines: expected.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.location().url.includes("/api/webauthn/")) out.console_errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => out.console_errors.push(`${page.url()}: ${e.message}`));
};
const until = async (what, f, ms = 5000) => {
  for (let t = 0; t < ms; t += 50) {
    const v = await f();
    if (v) return v;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return null;
};

try {
  for (const name of pages) {
    for (const [variant, context] of Object.entries(variants)) {
      const ctx = await browser.newContext(context);
      const page = await ctx.newPage();
      watch(page);
      await page.goto(`${base}/${name}.html`);
      const file = path.join(shots, `ui-${name}-${variant}.png`);
      await page.screenshot({ path: file, fullPage: true });
      out.screenshots.push(file);
      await ctx.close();
    }
  }

  // Keyboard: the first Tab lands on the skip link, which is then visible.
  {
    const ctx = await browser.newContext(variants.light);
    const page = await ctx.newPage();
    await page.goto(`${base}/app-passkeys.html`);
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement.textContent);
    check("skip_link_first", focused === "Skip to content", focused);
    await page.screenshot({ path: path.join(shots, "ui-focus-skip-light.png") });
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    await page.screenshot({ path: path.join(shots, "ui-focus-nav-light.png") });
    await ctx.close();
  }

  // Passkeys with a virtual authenticator, in one tab (the authenticator lives with it).
  // (The sign-in screenshots started autofill requests of their own: forget them.)
  for (const list of [...Object.values(seen.starts), ...Object.values(seen.finishes)]) list.length = 0;
  const ctx = await browser.newContext({ ...variants.light, permissions: ["clipboard-read", "clipboard-write"] });
  const page = await ctx.newPage();
  watch(page);
  await page.goto(`${base}/card-setup.html`);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.getByRole("button", { name: "Create a passkey" }).click();
  await page.waitForURL(`${base}/app-secret.html`);
  const reg = seen.finishes.register[0];
  check("register_sends_form_fields", JSON.stringify(seen.starts.register[0]?.body) === JSON.stringify({ name: "Alice Liddell", email: "alice@" }), seen.starts.register[0]);
  check("register_sends_json", seen.starts.register[0]?.type === "application/json", seen.starts.register[0]);
  check("register_finish_is_credential_json", !!reg?.response?.attestationObject && reg?.type === "public-key", reg);

  // Sign-in by autofill: the virtual authenticator answers the conditional request at once,
  // which then finishes like the button.
  await page.waitForURL(`${base}/app-secret.html`);
  const byAutofill = seen.finishes.login[0];
  check("conditional_finishes_like_button", seen.starts.login.length === 1 && !!byAutofill?.response?.userHandle, seen.starts.login);
  check("conditional_start_body", JSON.stringify(seen.starts.login[0]?.body) === JSON.stringify({ username: "" }), seen.starts.login[0]);

  // Copy buttons.
  const copy = page.locator('button[data-copy="client_secret"]');
  check("copy_button_shown", await copy.isVisible(), null);
  await copy.click();
  await until("copied", async () => (await copy.innerText()).trim() === "Copied");
  check("copy_says_copied", (await copy.innerText()).trim() === "Copied", await copy.innerText());
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check("copy_copies_value", clip === (await page.locator("#client_secret").inputValue()), clip);
  await page.screenshot({ path: path.join(shots, "ui-copied-light.png"), fullPage: true });

  // Without presence the autofill request waits; the button aborts it and runs its own.
  await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: false });
  await page.goto(`${base}/card-sign-in.html`);
  await until("conditional", () => seen.starts.login.length >= 2);
  await new Promise((ok) => setTimeout(ok, 500));
  check("conditional_waits", seen.finishes.login.length === 1, seen.finishes.login.length);
  await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: true });
  answers.login = { status: 400, body: { error: "passkey not found", code: "webauthn_authentication_failed" } };
  const button = page.getByRole("button", { name: "Sign in with a passkey" });
  await button.click();
  const status = page.locator("#passkey-status");
  await until("error sentence", async () => (await status.innerText()).includes("not accepted"));
  check(
    "error_sentence_from_code",
    (await status.innerText()) === "This passkey was not accepted. It may belong to an account that was removed, or to another site.",
    await status.innerText(),
  );
  check("error_tone", (await status.getAttribute("data-tone")) === "error", await status.getAttribute("data-tone"));
  check("button_aborts_conditional", seen.starts.login.length >= 3 && seen.finishes.login.length >= 2, { starts: seen.starts.login.length, finishes: seen.finishes.login.length });
  await until("idle", async () => (await button.isEnabled()) && (await button.getAttribute("aria-busy")) === null);
  check("button_usable_again", (await button.isEnabled()) && (await button.getAttribute("aria-busy")) === null, await button.getAttribute("aria-busy"));
  await page.screenshot({ path: path.join(shots, "ui-sign-in-error-light.png"), fullPage: true });

  answers.login = { status: 429, body: { error: "slow down", code: "rate_limited" } };
  await button.click();
  await until("rate", async () => (await status.innerText()).startsWith("Too many"));
  check("rate_limited_sentence", (await status.innerText()) === "Too many attempts. Wait a minute and try again.", await status.innerText());

  answers.login = { status: 400, body: { error: "Something the server said.", code: "new_code" } };
  await until("idle", async () => await button.isEnabled());
  await button.click();
  await until("server text", async () => (await status.innerText()) === "Something the server said.");
  check("unknown_code_shows_server_text", (await status.innerText()) === "Something the server said.", await status.innerText());

  // A redirect to another origin is not followed: the page reloads.
  answers.register = { status: 200, body: { redirect: "https://elsewhere.example/steal" } };
  await page.goto(`${base}/app-passkeys.html`);
  const reloaded = page.waitForEvent("load");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await reloaded;
  check("foreign_redirect_reloads", page.url() === `${base}/app-passkeys.html` && seen.finishes.register.length === 2, page.url());

  // Registering a passkey the authenticator already holds.
  // (A second resident passkey for the same user replaced the first in the authenticator.)
  exclude = seen.finishes.register.at(-1)?.rawId;
  await page.getByRole("button", { name: "Add a passkey" }).click();
  const accStatus = page.locator("[data-passkey-status]");
  await until("exists", async () => (await accStatus.innerText()).length > 0 && (await accStatus.getAttribute("data-tone")) === "error");
  check("already_registered_sentence", (await accStatus.innerText()) === "This passkey is already registered to your account.", await accStatus.innerText());
  exclude = null;

  // A refused user verification closes the prompt.
  await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await until("refused", async () => (await accStatus.innerText()).includes("closed or timed out"), 8000);
  check("not_allowed_sentence", (await accStatus.innerText()) === "The passkey prompt was closed or timed out. Try again.", await accStatus.innerText());
  await ctx.close();

  // Without script: no passkey button, the sentence instead; copy buttons stay hidden.
  {
    const c = await browser.newContext({ ...variants.light, javaScriptEnabled: false });
    const p = await c.newPage();
    await p.goto(`${base}/card-sign-in.html`);
    check("nojs_hides_passkey_button", !(await p.locator("button[data-passkey]").isVisible()), null);
    check("nojs_says_why", await p.locator("[data-show-without-js]").isVisible(), null);
    await p.screenshot({ path: path.join(shots, "ui-card-sign-in-nojs-light.png"), fullPage: true });
    await p.goto(`${base}/app-secret.html`);
    check("nojs_hides_copy", !(await p.locator("button[data-copy]").first().isVisible()), null);
    await c.close();
  }
  // Without WebAuthn: the button is disabled and the page says why.
  {
    const c = await browser.newContext(variants.light);
    await c.addInitScript(() => delete window.PublicKeyCredential);
    const p = await c.newPage();
    watch(p);
    await p.goto(`${base}/card-sign-in.html`);
    const b = p.locator("button[data-passkey]");
    check("no_webauthn_disables", await b.isDisabled(), null);
    check("no_webauthn_says_so", (await p.locator("#passkey-status").innerText()) === "This browser cannot use passkeys.", await p.locator("#passkey-status").innerText());
    await c.close();
  }
  // Without the JSON helpers (Safari before 18.4, older Firefox): the script's own base64url
  // conversions give the server the same JSON.
  {
    const c = await browser.newContext(variants.light);
    await c.addInitScript(() => {
      delete PublicKeyCredential.parseCreationOptionsFromJSON;
      delete PublicKeyCredential.parseRequestOptionsFromJSON;
      delete PublicKeyCredential.prototype.toJSON;
    });
    const p = await c.newPage();
    watch(p);
    await p.goto(`${base}/card-setup.html`);
    const s = await c.newCDPSession(p);
    await s.send("WebAuthn.enable");
    await s.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    answers.register = { status: 200, body: { redirect: "/card-sign-in.html" } };
    answers.login = { status: 200, body: { redirect: "/app-secret.html" } };
    const helpers = await p.evaluate(() => typeof PublicKeyCredential.parseCreationOptionsFromJSON);
    await p.getByRole("button", { name: "Create a passkey" }).click();
    await p.waitForURL(`${base}/app-secret.html`);
    const r = seen.finishes.register.at(-1);
    const l = seen.finishes.login.at(-1);
    const clientData = (cred) => JSON.parse(Buffer.from(cred?.response?.clientDataJSON ?? "", "base64url").toString() || "{}");
    const keys = (o) => Object.keys(o ?? {}).sort().join(",");
    check("fallback_helpers_gone", helpers === "undefined", helpers);
    check(
      "fallback_register_json",
      keys(r?.response) === "attestationObject,authenticatorData,clientDataJSON,publicKey,publicKeyAlgorithm,transports" &&
        r.rawId === r.id && clientData(r).type === "webauthn.create" && clientData(r).challenge === issued.register,
      r,
    );
    check(
      "fallback_login_json",
      keys(l?.response) === "authenticatorData,clientDataJSON,signature,userHandle" &&
        l.rawId === l.id && clientData(l).type === "webauthn.get" && clientData(l).challenge === issued.login,
      l,
    );
    await c.close();
  }
} catch (e) {
  failures.push(`exception: ${e.stack}`);
} finally {
  await browser.close();
  server.close();
}
check("no_console_errors", out.console_errors.length === 0, out.console_errors);
out.failures = failures;
console.log(JSON.stringify(out, null, 1));
process.exit(failures.length ? 1 : 0);
