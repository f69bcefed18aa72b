// The engine's pages in a real browser (Debian's chromium through playwright-core), driven by
// crates/latchkey/tests/browser.rs: an error page, the sign-out confirmation and its outcome,
// the form_post answer (auto-submitted under its own CSP, and by hand without script), and
// the idp's /login page. Each is saved as a screenshot in light, dark and at phone width.
//
// Usage: node engine_pages.mjs TSIDP_BASE CLIENT_ID CALLBACK_PORT IDP_BASE SCREENSHOT_DIR
// Prints one JSON object: what the pages showed and what the client's callback received.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, clientId, callbackPort, idpBase, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node engine_pages.mjs TSIDP_BASE CLIENT_ID CALLBACK_PORT IDP_BASE SCREENSHOT_DIR");
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const executablePath = process.env.LATCHKEY_CHROMIUM || "/usr/bin/chromium";
const callback = `http://127.0.0.1:${callbackPort}/cb`;

// The client's redirect URI: records what the browser posts to it.
const posts = [];
const client = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    posts.push({ method: req.method, fields: Object.fromEntries(new URLSearchParams(body)) });
    res.setHeader("content-type", "text/html");
    res.end("<!doctype html><title>App</title><h1>Back at the app</h1>");
  });
});
await new Promise((ok) => client.listen(Number(callbackPort), "127.0.0.1", ok));
const nextPost = async () => {
  const before = posts.length;
  for (let i = 0; i < 100 && posts.length === before; i++) {
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return posts[before] ?? null;
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in a container has no user namespaces for chromium's sandbox.
  args: ["--no-sandbox"],
});
const variants = {
  light: { colorScheme: "light", viewport: { width: 1024, height: 720 } },
  dark: { colorScheme: "dark", viewport: { width: 1024, height: 720 } },
  phone: { colorScheme: "light", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
};
const out = { screenshots: [], console_errors: [] };

// Opens `url` in each variant, screenshots it as NAME-VARIANT.png; returns what the light
// one showed.
const shoot = async (name, url, options = {}) => {
  let seen = null;
  for (const [variant, context] of Object.entries(variants)) {
    const ctx = await browser.newContext({ ...context, ...options });
    const page = await ctx.newPage();
    const response = await page.goto(url);
    const file = path.join(shots, `${name}-${variant}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.screenshots.push(file);
    if (!seen) {
      seen = {
        status: response.status(),
        heading: await page.locator("h1").innerText(),
        text: await page.locator("main").innerText(),
        stylesheet_applied: await page.evaluate(
          () => getComputedStyle(document.querySelector("main")).maxWidth,
        ),
      };
    }
    await ctx.close();
  }
  return seen;
};

try {
  // An engine error page: an unknown application.
  out.error = await shoot(
    "error-unknown-client",
    `${base}/authorize?client_id=nobody&response_type=code&scope=openid`,
  );

  // The sign-out confirmation (no id_token_hint), then confirming it in the browser: the
  // post must pass the same-origin check as a real browser sends it.
  const endSession = `${base}/end-session?client_id=${encodeURIComponent(clientId)}&state=bye`;
  out.confirm = await shoot("end-session-confirm", endSession);
  {
    const ctx = await browser.newContext(variants.light);
    const page = await ctx.newPage();
    await page.goto(endSession);
    const posted = page.waitForResponse((r) => r.request().method() === "POST");
    await page.getByRole("button", { name: "Sign out" }).click();
    const response = await posted;
    out.signed_out = {
      status: response.status(),
      sec_fetch_site: (await response.request().allHeaders())["sec-fetch-site"],
      heading: await page.locator("h1").innerText(),
    };
    const file = path.join(shots, "signed-out-light.png");
    await page.screenshot({ path: file, fullPage: true });
    out.screenshots.push(file);
    await ctx.close();
  }

  // form_post: the browser posts the answer to the client by itself, under the page's CSP.
  const authorize =
    `${base}/authorize?` +
    new URLSearchParams({
      client_id: clientId,
      response_type: "code",
      scope: "openid",
      redirect_uri: callback,
      response_mode: "form_post",
      state: "st-<&>\"'",
    });
  {
    const ctx = await browser.newContext(variants.light);
    const page = await ctx.newPage();
    page.on("console", (m) => m.type() === "error" && out.console_errors.push(m.text()));
    const arrived = nextPost();
    await page.goto(authorize);
    out.form_post = await arrived;
    await page.waitForURL(callback);
    out.form_post_landed = await page.locator("h1").innerText();
    await ctx.close();
  }
  // Without script: the page shows a button that does the same.
  out.form_post_page = await shoot("form-post-noscript", authorize, { javaScriptEnabled: false });
  {
    const ctx = await browser.newContext({ ...variants.light, javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(authorize);
    const arrived = nextPost();
    await page.getByRole("button", { name: "Continue" }).click();
    out.form_post_noscript = await arrived;
    await ctx.close();
  }

  // The idp's sign-in placeholder.
  out.login = await shoot("idp-login", `${idpBase}/login`);
} finally {
  await browser.close();
  client.close();
}
console.log(JSON.stringify(out));
