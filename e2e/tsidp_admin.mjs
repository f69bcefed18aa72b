// The tsidp admin UI in a real browser (Debian's chromium through playwright-core), driven by
// crates/latchkey/tests/browser.rs, which starts Latchkey and checks the results server-side.
//
// Usage: node tsidp_admin.mjs BASE_URL
// Prints one JSON object: what the pages showed and how a forged cross-origin post fared.

import http from "node:http";
import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) {
  console.error("usage: node tsidp_admin.mjs BASE_URL");
  process.exit(2);
}
const executablePath = process.env.LATCHKEY_CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in a container has no user namespaces for chromium's sandbox.
  args: ["--no-sandbox"],
});
const out = {};
try {
  const page = await browser.newPage();
  const value = (label) => page.getByLabel(label, { exact: true }).first().inputValue();

  // The overview: issuer and endpoints to copy.
  await page.goto(`${base}/`);
  out.heading = await page.locator("h1").innerText();
  out.issuer = await value("Issuer");
  out.token_endpoint = await value("Token");

  // Create a confidential client through the form.
  const create = async (name, redirect) => {
    await page.goto(`${base}/`);
    await page.locator("a.button", { hasText: "New client" }).click();
    await page.fill("#name", name);
    await page.fill("#redirect_uris", redirect);
    await page.check("#confidential");
    await page.getByRole("button", { name: "Create client" }).click();
    await page.waitForSelector("#client_secret");
    return { id: await value("Client ID"), secret: await value("Client secret") };
  };
  const kept = await create("Grafana", "https://grafana.example/login/generic_oauth");
  out.kept_id = kept.id;
  out.first_secret = kept.secret;

  // Edit its redirect URIs.
  await page.getByRole("link", { name: "Edit this client" }).click();
  await page.fill(
    "#redirect_uris",
    "https://grafana.example/login/generic_oauth\nhttps://grafana.example/alt",
  );
  await page.getByRole("button", { name: "Save" }).click();
  out.edit_notice = await page.locator("[role=status]").innerText();

  // Regenerate its secret.
  await page.getByRole("button", { name: "Regenerate secret" }).click();
  await page.waitForSelector("#client_secret");
  out.second_secret = await value("Client secret");

  // A forged post from another origin, carrying even a valid form token: the browser marks it
  // cross-origin and Latchkey refuses it.
  await page.goto(`${base}/clients/new`);
  const token = await page.locator("input[name=csrf_token]").first().inputValue();
  const attacker = http.createServer((req, res) => {
    res.setHeader("content-type", "text/html");
    res.end(`<!doctype html><form id=f method=post action="${base}/clients">
      <input name=csrf_token value="${token}"><input name=name value=evil>
      <input name=redirect_uris value="https://evil.example/cb">
      <input name=client_type value=confidential></form>
      <script>document.getElementById("f").submit()</script>`);
  });
  await new Promise((ok) => attacker.listen(0, "127.0.0.1", ok));
  const forged = page.waitForResponse((r) => r.url() === `${base}/clients`);
  await page.goto(`http://127.0.0.1:${attacker.address().port}/`);
  const response = await forged;
  out.forged_status = response.status();
  out.forged_sec_fetch_site = (await response.request().allHeaders())["sec-fetch-site"];
  attacker.close();

  // Create a second client and delete it, through the confirmation page.
  const doomed = await create("Doomed", "https://doomed.example/cb");
  out.deleted_id = doomed.id;
  await page.goto(`${base}/clients/${doomed.id}`);
  await page.getByRole("link", { name: "Delete this client…" }).click();
  await page.getByRole("button", { name: "Delete" }).click();
  out.delete_heading = await page.locator("h1").innerText();
  await page.getByRole("link", { name: "Back" }).click();
  out.overview_after_delete = await page.locator("body").innerText();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
