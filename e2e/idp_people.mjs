// The idp role for people, in a real browser (Debian's chromium through playwright-core) with
// a CDP virtual authenticator, driven by crates/latchkey/tests/browser.rs: the first
// administrator arrives by the setup link and registers a passkey; signs out and back in with
// it (the button, and the autofill request the sign-in page starts on its own); an
// application's sign-in asks for consent once; a form posted from another origin is refused;
// the administrator adds a person (with a one-time link), a group and a client on the admin
// pages; a one-time link signs a second person in. Every page is saved as a screenshot in light,
// dark and at phone width.
//
// Usage: node idp_people.mjs BASE SETUP_URL AUTHORIZE_URL RESTRICTED_URL LINK_URL CALLBACK_PORT SCREENSHOT_DIR DEVICE_URL
// BASE is http://localhost:PORT; AUTHORIZE_URL is a sign-in to an application anyone may use,
// RESTRICTED_URL to one the person of LINK_URL (a one-time link) may not use; both redirect
// to http://127.0.0.1:CALLBACK_PORT/cb. Prints one JSON object: what the pages showed and
// what the client's callback received.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, setupUrl, authorizeUrl, restrictedUrl, link, callbackPort, shots, deviceUrl] = process.argv.slice(2);
if (!deviceUrl) {
  console.error("usage: node idp_people.mjs BASE SETUP_URL AUTHORIZE_URL RESTRICTED_URL LINK_URL CALLBACK_PORT SCREENSHOT_DIR");
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const executablePath = process.env.LATCHKEY_CHROMIUM || "/usr/bin/chromium";

// The client's redirect URI records the query it receives; it also serves a page of
// another origin that posts a form to Latchkey.
const callbacks = [];
const app = http.createServer((req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${callbackPort}`);
  res.setHeader("content-type", "text/html");
  if (url.pathname === "/cb") {
    callbacks.push(Object.fromEntries(url.searchParams));
    res.end("<!doctype html><title>App</title><h1>Back at the app</h1>");
  } else {
    const action = url.searchParams.get("action");
    res.end(
      `<!doctype html><title>Elsewhere</title><form method="post" action="${action}">` +
        `<input name="csrf_token" value="x"><button>Send</button></form>`,
    );
  }
});
await new Promise((ok) => app.listen(Number(callbackPort), "127.0.0.1", ok));

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in a container has no user namespaces for chromium's sandbox; localhost is an RP ID,
  // 127.0.0.1 is not, so the browser is kept on loopback under the name.
  args: ["--no-sandbox", "--host-resolver-rules=MAP localhost 127.0.0.1"],
});
const variants = {
  light: { colorScheme: "light", viewport: { width: 1024, height: 720 } },
  dark: { colorScheme: "dark", viewport: { width: 1024, height: 720 } },
  phone: { colorScheme: "light", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
};
const out = { screenshots: [], console_errors: [], callbacks };

// Script errors and CSP violations; a page answering 401/403 on purpose is not one.
const consoleError = (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource");

// Screenshots of `url` in each variant, with the cookies of `ctx` (the person's session).
const shoot = async (name, url, ctx) => {
  const state = ctx ? await ctx.storageState() : undefined;
  for (const [variant, options] of Object.entries(variants)) {
    const c = await browser.newContext({ ...options, storageState: state });
    const page = await c.newPage();
    page.on("console", (m) => consoleError(m) && out.console_errors.push(`${name}: ${m.text()}`));
    await page.goto(url);
    await page.waitForLoadState("networkidle");
    const file = path.join(shots, `idp-${name}-${variant}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.screenshots.push(file);
    await c.close();
  }
};

// Screenshots of the page as it is (a page a form post answered, which a URL cannot show
// again): light, dark, then at phone width.
const shootHere = async (name, page) => {
  const size = page.viewportSize();
  const steps = [
    ["light", () => page.emulateMedia({ colorScheme: "light" })],
    ["dark", () => page.emulateMedia({ colorScheme: "dark" })],
    ["phone", async () => {
      await page.emulateMedia({ colorScheme: "light" });
      await page.setViewportSize(variants.phone.viewport);
    }],
  ];
  for (const [variant, set] of steps) {
    await set();
    const file = path.join(shots, `idp-${name}-${variant}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.screenshots.push(file);
  }
  await page.setViewportSize(size);
};

// Screenshots of the page as it is now (an answer to a post), light, dark and at phone width.
const snap = async (page, name) => {
  const size = page.viewportSize();
  for (const [variant, options] of Object.entries(variants)) {
    await page.emulateMedia({ colorScheme: options.colorScheme });
    await page.setViewportSize(options.viewport);
    const file = path.join(shots, `idp-${name}-${variant}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.screenshots.push(file);
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize(size);
};

// A person's browser with a platform passkey authenticator.
const person = async () => {
  const ctx = await browser.newContext(variants.light);
  const page = await ctx.newPage();
  page.on("console", (m) => consoleError(m) && out.console_errors.push(m.text()));
  await page.goto(`${base}/login`);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { ctx, page, cdp, authenticatorId };
};

const status = async (page) => (await page.locator("[data-passkey-status]").first().innerText()).trim();

try {
  // 1. The setup link: the form, then the first passkey.
  await shoot("setup", setupUrl);
  const admin = await person();
  const { page } = admin;
  await page.goto(setupUrl);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("E-mail").fill("alice@example.com");
  await page.getByLabel("First name").fill("Alice");
  await page.getByLabel("Last name").fill("Liddell");
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.waitForURL(/\/account\/passkeys\/new$/);
  out.passkey_new_heading = await page.locator("h1").innerText();
  await shoot("passkey-new", page.url(), admin.ctx);
  await page.getByRole("button", { name: "Create passkey" }).click();
  await page.waitForURL(/\/account$/);
  out.account_text = await page.locator("main").innerText();
  const creds = await admin.cdp.send("WebAuthn.getCredentials", { authenticatorId: admin.authenticatorId });
  out.credentials = creds.credentials.map((c) => ({ rpId: c.rpId, resident: c.isResidentCredential, userHandle: c.userHandle }));
  await shoot("account", page.url(), admin.ctx);

  // 2. The setup link works once.
  {
    const c = await browser.newContext(variants.light);
    const p = await c.newPage();
    const r = await p.goto(setupUrl);
    out.setup_again = { status: r.status(), heading: await p.locator("h1").innerText() };
    await c.close();
  }

  // 3. Sign out from the top bar. The sign-in page starts the autofill (conditional) request
  // by itself, and the virtual authenticator, which needs no person, answers it: signed in.
  const autofillStart = page.waitForRequest((r) => r.url().endsWith("/api/webauthn/login/start"));
  await page.getByRole("button", { name: /sign out/i }).first().click();
  await autofillStart;
  out.autofill_started = true;
  await page.waitForURL(/\/account$/);
  out.autofill_signed_in = true;
  out.conditional_available = await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable());
  await shoot("sign-in", `${base}/login`);
  // The button, on a browser that offers no autofill (so the page starts no conditional
  // request and the button's modal one is the only one).
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  await page.getByRole("button", { name: /sign out/i }).first().click();
  await page.waitForURL(/\/login$/);
  const finishes = [];
  page.on("request", (r) => r.url().includes("/api/webauthn/login/finish") && finishes.push(r.url()));
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.waitForURL(/\/account$/);
  out.button_finishes = finishes.length;
  out.signed_in_again = (await page.locator("main").innerText()).includes("this browser");

  // 4. An application's sign-in: consent once, then straight through.
  await page.goto(authorizeUrl);
  await page.waitForURL(/\/consent\?/);
  out.consent_heading = await page.locator("h1").innerText();
  out.consent_text = await page.locator("main").innerText();
  await shoot("consent", page.url(), admin.ctx);
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(/127\.0\.0\.1.*\/cb/);
  // A second sign-in asks nothing.
  await page.goto(authorizeUrl.replace(/state=[^&]*/, "state=again"));
  await page.waitForURL(/127\.0\.0\.1.*\/cb/);

  // 4b. A device (a TV, a command-line tool) shows a code: the person enters it, sees the
  // application and what it will see, and allows it.
  await shoot("device", deviceUrl, admin.ctx);
  await page.goto(deviceUrl);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: "Allow" }).waitFor();
  out.device_confirm_heading = await page.locator("h1").innerText();
  await snap(page, "device-confirm");
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForLoadState();
  out.device_done_heading = await page.locator("h1").innerText();
  await snap(page, "device-done");

  // 5. A form posted from another origin (with a made-up token) is refused.
  {
    const p = await admin.ctx.newPage();
    await p.goto(`http://127.0.0.1:${callbackPort}/form?action=${encodeURIComponent(`${base}/logout`)}`);
    const posted = p.waitForResponse((r) => r.request().method() === "POST");
    await p.getByRole("button", { name: "Send" }).click();
    const r = await posted;
    out.cross_origin_logout = { status: r.status(), sec_fetch_site: (await r.request().allHeaders())["sec-fetch-site"] };
    await p.close();
    // Still signed in.
    await page.goto(`${base}/account`);
    out.still_signed_in = page.url().endsWith("/account");
  }

  // 6. Alice administers: a person (and their one-time link), a group with that person and
  // a claim, and a client for the group, whose secret is shown once.
  await page.goto(`${base}/account`);
  out.admin_nav = await page.locator("header nav").innerText();
  await page.locator("header nav").getByRole("link", { name: "People" }).click();
  await page.waitForURL(/\/admin\/people$/);
  await shoot("admin-people", page.url(), admin.ctx);
  await page.getByRole("link", { name: "Add a person" }).click();
  await page.getByLabel("Username").fill("carol");
  await page.getByLabel("E-mail").fill("carol@example.com");
  await page.getByLabel("First name").fill("Carol");
  await page.getByLabel("Last name").fill("Ng");
  await page.getByRole("button", { name: "Add person" }).click();
  await page.waitForURL(/\/admin\/people\/[0-9a-f-]{36}$/);
  out.admin_person_heading = await page.locator("h1").innerText();
  const carolPage = page.url();
  await page.getByRole("button", { name: "Make a sign-in link" }).click();
  await page.waitForURL(/\/link$/);
  const carolLink = await page.locator("#sign-in-link").inputValue();
  out.admin_link_text = await page.locator("main").innerText();
  await shootHere("admin-person-link", page);
  {
    const c = await browser.newContext(variants.light);
    const p = await c.newPage();
    await p.goto(carolLink);
    await p.getByRole("button", { name: /^Continue as/ }).click();
    await p.waitForURL(/\/account\/passkeys\/new$/);
    out.carol_signed_in = (await p.locator("h1").innerText()) === "Create your passkey";
    await c.close();
  }
  await page.locator("header nav").getByRole("link", { name: "Groups" }).click();
  await page.waitForURL(/\/admin\/groups$/);
  out.admin_groups_empty = await page.locator("main").innerText();
  await page.getByRole("link", { name: "Create a group" }).first().click();
  await page.getByLabel("Name", { exact: true }).fill("ops");
  await page.getByLabel("Display name").fill("Operations");
  await page.getByRole("button", { name: "Create group" }).click();
  await page.waitForURL(/\/admin\/groups\/[0-9a-f-]{36}$/);
  await page.getByLabel("Username or e-mail").fill("carol@example.com");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.waitForURL(/#members-h$/);
  await page.getByLabel("Claim name").fill("department");
  await page.getByLabel("Value").fill("operations");
  await page.getByRole("button", { name: "Add claim" }).click();
  await page.waitForURL(/#claims-h$/);
  out.admin_group_text = await page.locator("main").innerText();
  await shoot("admin-group", page.url().replace(/#.*$/, ""), admin.ctx);
  await shoot("admin-person-edit", carolPage, admin.ctx);
  await page.goto(`${base}/admin/groups`);
  await shoot("admin-groups", page.url(), admin.ctx);
  await page.locator("header nav").getByRole("link", { name: "Clients" }).click();
  await page.getByRole("link", { name: "Add a client" }).click();
  await shoot("admin-client-new", page.url(), admin.ctx);
  await page.getByLabel("Name", { exact: true }).fill("Paperless");
  await page.getByLabel("Redirect URIs").fill(`http://127.0.0.1:${callbackPort}/cb`);
  await page.getByLabel(/^Operations/).check();
  await page.getByLabel(/^Launch URL/).fill("https://paperless.example/");
  await page.getByLabel("ID token algorithm").selectOption("ES256");
  await page.getByRole("button", { name: "Create client" }).click();
  await page.locator("#client-secret").waitFor();
  out.admin_client = {
    heading: await page.locator("h1").innerText(),
    id: await page.locator("#client-id").inputValue(),
    secret: await page.locator("#client-secret").inputValue(),
    text: await page.locator("main").innerText(),
  };
  await shootHere("admin-client-secret", page);
  // Its logo, uploaded by the page script from the file input.
  await page.goto(`${base}/admin/clients/${out.admin_client.id}`);
  const logo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#17a34a"/><path d="M20 16h16a12 12 0 0 1 0 24h-8v10h-8z" fill="#fff"/></svg>`;
  await page.getByLabel("Image").setInputFiles({ name: "paperless.svg", mimeType: "image/svg+xml", buffer: Buffer.from(logo) });
  await page.getByRole("button", { name: "Upload logo" }).click();
  await page.getByRole("button", { name: "Remove logo" }).waitFor();
  const shown = page.locator("#logo-h ~ .app img");
  out.logo = {
    src: await shown.getAttribute("src"),
    loaded: await shown.evaluate((img) => img.complete && img.naturalWidth > 0),
  };
  await shootHere("admin-client-logo", page);
  await page.goto(`${base}/admin/clients`);
  out.admin_clients_text = await page.locator("main").innerText();
  await shoot("admin-clients", page.url(), admin.ctx);
  await page.goto(`${base}/account`);
  out.my_apps_text = await page.locator("#apps-h").locator("..").innerText();
  await shoot("account-apps", page.url(), admin.ctx);
  await page.locator("header nav").getByRole("link", { name: "Audit log" }).click();
  out.audit_text = await page.locator("main").innerText();
  await shoot("admin-audit", page.url(), admin.ctx);

  // 7. A second person, by a one-time link: the link page, then their first passkey.
  await shoot("link", link);
  const bob = await person();
  await bob.page.goto(link);
  await bob.page.getByRole("button", { name: /^Continue as/ }).click();
  await bob.page.waitForURL(/\/account\/passkeys\/new$/);
  await bob.page.getByRole("button", { name: "Create passkey" }).click();
  await bob.page.waitForURL(/\/account$/);
  out.bob_account = await bob.page.locator("main").innerText();
  {
    const c = await browser.newContext(variants.light);
    const p = await c.newPage();
    const r = await p.goto(link);
    out.link_again = r.status();
    await c.close();
  }

  // 8. Bob may not use the restricted application (he is in none of its groups).
  await bob.page.goto(restrictedUrl);
  await bob.page.waitForURL(/\/refused\?/);
  out.refused_heading = await bob.page.locator("h1").innerText();
  await shoot("refused", bob.page.url(), bob.ctx);
  await bob.page.getByRole("link", { name: /^Back to/ }).click();
  await bob.page.waitForURL(/127\.0\.0\.1.*\/cb/);

  // 9. Deleting a passkey asks for the passkey again first.
  await page.goto(`${base}/account`);
  await page.getByRole("link", { name: "Delete" }).first().click();
  await page.waitForURL(/\/delete$/);
  out.delete_before = await page.locator("main").innerText();
  await shoot("passkey-delete", page.url(), admin.ctx);
  await page.getByRole("button", { name: "Confirm with a passkey" }).click();
  await page.getByRole("button", { name: "Delete passkey" }).waitFor();
  await page.getByRole("button", { name: "Delete passkey" }).click();
  await page.waitForURL(/\/account$/);
  out.account_after_delete = await page.locator("main").innerText();
  // The authenticator still holds it; the server no longer knows it.
  await page.getByRole("button", { name: /sign out/i }).first().click();
  await page.waitForURL(/\/login$/);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.locator('[data-passkey-status][data-tone="error"]').waitFor();
  out.unknown_passkey_status = await status(page);
} catch (e) {
  out.error = String(e.stack || e);
} finally {
  await browser.close();
  app.close();
}
console.log(JSON.stringify(out));
