// The account page in a real browser: Playwright (playwright-core) driving headless
// chromium against a running `tessera serve`. tests/browser.rs starts the server on each
// backend and runs this script; it can also be run by hand:
//
//   TESSERA_URL=http://127.0.0.1:50051 TESSERA_ADMIN_TOKEN=dev-admin-token node tests/journey.mjs
//
// The customer's side goes through the page only; what happens elsewhere — the admin
// issuing keys, a carrier provisioning, a device activating and checking in — goes
// through the API with the same generated client the page uses (gRPC-Web).
//
// Environment: TESSERA_URL, TESSERA_ADMIN_TOKEN, CHROMIUM (default /usr/bin/chromium),
// ARTIFACTS (screenshots; default ../target/browser-artifacts/manual).
// The last line of standard output is `RESULT {json}` for the caller's own checks.

import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { AccountService } from "../src/gen/tessera/v1/account_pb.js";
import { Platform } from "../src/gen/tessera/v1/common_pb.js";
import { PartnerService } from "../src/gen/tessera/v1/partner_pb.js";
import { ProductKeyKind, ProductKeyService } from "../src/gen/tessera/v1/product_key_pb.js";
import { SeatService, WarningKind } from "../src/gen/tessera/v1/seat_pb.js";
import { SubscriptionService } from "../src/gen/tessera/v1/subscription_pb.js";

const started = Date.now();
const here = dirname(fileURLToPath(import.meta.url));
const baseUrl = process.env.TESSERA_URL ?? "http://127.0.0.1:50051";
const adminToken = process.env.TESSERA_ADMIN_TOKEN ?? "dev-admin-token";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = resolve(process.env.ARTIFACTS ?? join(here, "../../target/browser-artifacts/manual"));
const STEP_TIMEOUT_MS = 15_000;

// A stuck browser must not hold the test run forever.
setTimeout(() => {
  console.error("journey: still running after 240 s; giving up");
  process.exit(3);
}, 240_000).unref();

if (!existsSync(chromiumPath)) {
  console.error(`journey: no chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`);
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

// ---------------------------------------------------------------------------------------
// The API side: the admin, a carrier and a device.

function clientsWith(token) {
  const transport = createGrpcWebTransport({
    baseUrl,
    interceptors: [
      (next) => async (req) => {
        if (token) req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  return {
    accounts: createClient(AccountService, transport),
    subscriptions: createClient(SubscriptionService, transport),
    seats: createClient(SeatService, transport),
    keys: createClient(ProductKeyService, transport),
    partners: createClient(PartnerService, transport),
  };
}

const admin = clientsWith(adminToken);
const anonymous = clientsWith(null);
const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const email = `ada-${unique}@example.com`;
const password = "a long enough password";

async function refusal(call) {
  try {
    await call();
  } catch (error) {
    const e = ConnectError.from(error);
    return {
      code: e.code,
      reason: e.findDetails(ErrorInfoSchema)[0]?.reason ?? "",
      violation: e.findDetails(BadRequestSchema)[0]?.fieldViolations[0],
      message: e.rawMessage,
    };
  }
  assert.fail("the call was expected to be refused");
}

/** The key with one character changed: what the check character must catch. */
function mistyped(key) {
  const alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
  const i = 7; // second group
  const other = alphabet[(alphabet.indexOf(key[i]) + 5) % alphabet.length];
  return key.slice(0, i) + other + key.slice(i + 1);
}

// ---------------------------------------------------------------------------------------
// The browser side.

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const problems = [];
let shot = 0;
const openPages = new Set();

async function newPage(options = {}) {
  const context = await browser.newContext({ locale: "en-US", viewport: { width: 1100, height: 900 }, ...options });
  const page = await context.newPage();
  openPages.add(page);
  page.on("close", () => openPages.delete(page));
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  // Any script error or Content-Security-Policy violation fails the journey.
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  return { context, page };
}

async function screenshot(page, name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function step(name) {
  console.log(`journey: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const subscriptionCard = (page, plan) =>
  page.locator("article.subscription").filter({ has: page.getByRole("heading", { level: 3, name: plan }) });

const STANDARD = "Security Suite Standard, 1 device";
const TRIAL = "Security Suite trial, 5 devices, 30 days";
const DELUXE = "Security Suite Deluxe, 3 devices";

let result = {};
try {
  // The admin issues a retail key, as for a card.
  const [productKey] = (
    await admin.keys.issueProductKeys({
      plan: "plans/standard-1",
      count: 1,
      kind: ProductKeyKind.NEW,
      batchLabel: `browser journey ${unique}`,
    })
  ).productKeys;

  step("the page opens, signed out, in the browser's language");
  const { context, page } = await newPage();
  const response = await page.goto(`${baseUrl}/account`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"] ?? "", /script-src 'self'/);
  await page.getByRole("heading", { level: 1, name: "My account" }).waitFor();
  await page.getByRole("heading", { level: 2, name: "Sign in" }).waitFor();
  await screenshot(page, "signed-out");

  step("sign up");
  await page.getByLabel("E-mail address").nth(1).fill(email);
  await page.locator("#sign-up-password").fill(password);
  await page.getByLabel("Your name (optional)").fill("Ada");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText(`Signed in as ${email}`).waitFor();
  await page.getByText("You have no subscription yet.").waitFor();
  const customer = clientsWith((await anonymous.accounts.signIn({ email, password })).sessionToken);

  step("a mistyped product key is refused at once, with the API's message");
  const typo = mistyped(productKey);
  const api = await refusal(() => customer.keys.redeemProductKey({ productKey: typo }));
  assert.equal(api.reason, "PRODUCT_KEY_MALFORMED");
  assert.equal(api.violation.field, "product_key");
  await page.getByLabel("Product key").fill(typo);
  await page.getByRole("button", { name: "Check and add" }).click();
  const keyError = page.locator("#product-key-error");
  await keyError.filter({ hasText: api.violation.description }).waitFor();
  assert.equal(await keyError.getAttribute("role"), "alert");
  assert.equal(await page.getByLabel("Product key").getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "product-key");
  await page.getByText("You have no subscription yet.").waitFor();
  await screenshot(page, "mistyped-key");

  step("the key is redeemed: the subscription and its key appear");
  await page.getByLabel("Product key").fill(productKey.toLowerCase().replaceAll("-", " "));
  await page.getByRole("button", { name: "Check and add" }).click();
  const standard = subscriptionCard(page, STANDARD);
  await standard.waitFor();
  await page.getByRole("status").filter({ hasText: `Added: ${STANDARD}.` }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), "H3");
  assert.equal(await standard.locator("code.key").textContent(), productKey);
  await standard.getByText("Active", { exact: true }).waitFor();
  await standard.getByText(/^36[56] days \(until/).waitFor();
  await standard.getByText("0 of 1").waitFor();
  await standard.getByText("With a product key", { exact: true }).waitFor();
  assert.equal(await page.getByLabel("Product key").inputValue(), "");
  await screenshot(page, "redeemed");

  step("a device activates through the API and appears on the page");
  const subscriptionName = await standard.getAttribute("data-subscription");
  const phone = await customer.seats.activateSeat({
    parent: subscriptionName,
    deviceId: `phone-${unique}`,
    platform: Platform.ANDROID,
    displayName: "Ada's phone",
  });
  const device = clientsWith(phone.deviceToken);
  assert.equal((await device.seats.checkProtection({})).protected, true);
  await page.getByRole("button", { name: "Refresh" }).click();
  const phoneItem = standard.locator("li.device").filter({ hasText: "Ada's phone" });
  await phoneItem.waitFor();
  await phoneItem.getByText(/^Android · Last seen /).waitFor();
  await standard.getByText("1 of 1 — full: remove a device to protect a new one").waitFor();

  step("a full subscription refuses another device, through the API and on the page");
  const full = await refusal(() =>
    customer.seats.activateSeat({
      parent: subscriptionName,
      deviceId: `laptop-${unique}`,
      platform: Platform.WINDOWS,
      displayName: "Ada's laptop",
    }),
  );
  assert.equal(full.code, Code.ResourceExhausted);
  assert.equal(full.reason, "SEAT_LIMIT_REACHED");
  // A trial bought in the web shop, ending within the warning window, and its device.
  const account = await customer.accounts.getAccount({ name: "accounts/me" });
  const trial = await admin.subscriptions.createSubscription({
    parent: account.name,
    plan: "plans/trial-5",
    autoRenew: false,
    requestId: `trial-${unique}`,
  });
  await customer.seats.activateSeat({
    parent: trial.name,
    deviceId: `laptop-${unique}`,
    platform: Platform.WINDOWS,
    displayName: "Ada's laptop",
  });
  await page.getByRole("button", { name: "Refresh" }).click();
  const trialCard = subscriptionCard(page, TRIAL);
  const laptop = trialCard.locator("li.device").filter({ hasText: "Ada's laptop" });
  await laptop.getByLabel("Move to").selectOption({ label: STANDARD });
  await laptop.getByRole("button", { name: "Move Ada's laptop", exact: true }).click();
  await laptop
    .getByRole("alert")
    .filter({ hasText: "The only seat of that subscription is taken: remove its device first. Devices on it: Ada's phone." })
    .waitFor();
  await laptop.waitFor(); // still on the trial

  step("the expiry warning with its actions, and the double-coverage advice");
  const warning = trialCard.locator(".warning");
  await warning.getByText(/^Your protection expires in (29|30) days\.$/).waitFor();
  await warning.getByRole("button", { name: "Turn on automatic renewal" }).waitFor();
  await warning.getByText("Open the app and tap “Recover your purchase”", { exact: false }).waitFor();
  const advice = page.getByRole("region", { name: "You are protected twice" });
  // The one to keep has the most seats: the trial's five.
  await advice.getByText(`Keep ${TRIAL} and let the others end`, { exact: false }).waitFor();
  await screenshot(page, "warning-overlap-full");
  await page.screenshot({ path: join(artifacts, "account-page.png"), fullPage: true });

  step("auto-renew on: the warning goes");
  await trialCard.getByRole("switch", { name: "Renew automatically" }).check();
  await page.getByRole("status").filter({ hasText: `Automatic renewal is on for ${TRIAL}.` }).waitFor();
  await trialCard.locator(".warning").waitFor({ state: "detached" });
  assert.equal(await trialCard.getByRole("switch", { name: "Renew automatically" }).isChecked(), true);

  step("a partner code from a carrier adds the carrier's subscription");
  const partner = await admin.partners.createPartner({ displayName: `Telekom ${unique}` });
  const apiKey = (await admin.partners.createPartnerKey({ parent: partner.name })).apiKey;
  const carrier = clientsWith(apiKey);
  const provisioned = await carrier.subscriptions.provisionSubscription({
    partnerReference: `contract-${unique}`,
    plan: "plans/deluxe-3",
    requestId: `provision-${unique}`,
  });
  await page.getByLabel("Partner code").fill(provisioned.partnerCode);
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const deluxe = subscriptionCard(page, DELUXE);
  await deluxe.waitFor();
  await deluxe.getByText("From your provider", { exact: true }).waitFor();
  await deluxe.getByText("Renewed by your provider", { exact: true }).waitFor();

  step("remove the phone after confirming; it is no longer protected");
  await phoneItem.getByRole("button", { name: "Remove Ada's phone", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Remove this device?" });
  await dialog.waitFor();
  await dialog.getByText(`Ada's phone will no longer be protected by ${STANDARD}`, { exact: false }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "confirm-cancel");
  await screenshot(page, "confirm-removal");
  // Cancelling keeps the device and returns focus to its button.
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Remove Ada's phone");
  await phoneItem.getByRole("button", { name: "Remove Ada's phone", exact: true }).click();
  await dialog.getByRole("button", { name: "Remove device" }).click();
  await page.getByRole("status").filter({ hasText: "Ada's phone was removed. It is no longer protected." }).waitFor();
  await phoneItem.waitFor({ state: "detached" });
  await standard.getByText("0 of 1").waitFor();
  await screenshot(page, "removed");
  const verdict = await device.seats.checkProtection({});
  assert.equal(verdict.protected, false);
  assert.equal(verdict.warnings[0]?.kind, WarningKind.SEAT_REMOVED);

  step("sign out; a wrong password is refused; the right one signs in");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("status").filter({ hasText: "You are signed out." }).waitFor();
  await page.locator("#sign-in-email").fill(email);
  await page.locator("#sign-in-password").fill("not the password at all");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#sign-in-error").filter({ hasText: "The e-mail address or password is wrong." }).waitFor();
  await screenshot(page, "wrong-password");
  await page.locator("#sign-in-password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await subscriptionCard(page, STANDARD).waitFor();

  step("German and French with the switcher");
  await page.getByLabel("Language").selectOption("de");
  await page.getByRole("heading", { level: 2, name: "Meine Abonnements" }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "de");
  await page.getByLabel("Produktschlüssel", { exact: true }).fill(typo);
  await page.getByRole("button", { name: "Prüfen und hinzufügen" }).click();
  await page
    .locator("#product-key-error")
    .filter({ hasText: "Der Produktschlüssel enthält einen Tippfehler: Bitte prüfen Sie jedes Zeichen." })
    .waitFor();
  await screenshot(page, "german");
  await page.getByLabel("Sprache").selectOption("fr");
  await page.getByRole("heading", { level: 2, name: "Mes abonnements" }).waitFor();
  await page.getByRole("button", { name: "Vérifier et ajouter" }).waitFor();
  await screenshot(page, "french");
  await context.close();

  step("the browser's language is the default");
  for (const [locale, heading] of [
    ["de-DE", "Anmelden"],
    ["fr-FR", "Connexion"],
  ]) {
    const other = await newPage({ locale });
    await other.page.goto(`${baseUrl}/account`);
    await other.page.getByRole("heading", { level: 2, name: heading }).waitFor();
    await other.context.close();
  }

  step("keyboard only, on a phone-sized screen");
  const phoneSized = await newPage({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  const mobile = phoneSized.page;
  await mobile.goto(`${baseUrl}/account`);
  await mobile.getByRole("heading", { level: 2, name: "Sign in" }).waitFor();
  const order = [];
  for (let i = 0; i < 5; i++) {
    await mobile.keyboard.press("Tab");
    order.push(await mobile.evaluate(() => document.activeElement?.id || document.activeElement?.textContent));
  }
  assert.deepEqual(order, ["Skip to content", "language", "sign-in-email", "sign-in-password", "Sign in"]);
  await mobile.keyboard.press("Shift+Tab");
  await mobile.keyboard.press("Shift+Tab");
  await mobile.keyboard.type(email);
  await mobile.keyboard.press("Tab");
  await mobile.keyboard.type(password);
  await mobile.keyboard.press("Enter");
  await subscriptionCard(mobile, STANDARD).waitFor();
  const overflow = await mobile.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
  await screenshot(mobile, "phone");
  await phoneSized.context.close();

  assert.deepEqual(problems, [], "the page logged errors");
  result = { deviceToken: phone.deviceToken, seconds: (Date.now() - started) / 1000, artifacts };
} catch (error) {
  // What the page showed when the journey failed.
  for (const page of openPages) await screenshot(page, "failure").catch(() => {});
  if (problems.length > 0) console.error(`journey: the page logged errors:\n${problems.join("\n")}`);
  throw error;
} finally {
  await browser.close();
}
step("done");
console.log(`RESULT ${JSON.stringify(result)}`);
