// The account page: sign up, sign in and out; add a subscription with a product key or a
// partner code; see every subscription with its plan, status, days left, seats and
// product key, the devices it protects, its expiry warnings and what to do about them,
// and whether the account is covered twice; remove or move a device; turn automatic
// renewal on or off. Every answer comes from the API; the page keeps no rules of its own.

import "./style.css";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import * as api from "./api.js";
import { h, hidden, focusById } from "./dom.js";
import {
  LANGUAGES,
  type Key,
  type Lang,
  describeField,
  formatDate,
  formatDateTime,
  formatList,
  initialLanguage,
  language,
  rememberLanguage,
  setLanguage,
  t,
  tn,
} from "./i18n.js";
import type { Account } from "./gen/tessera/v1/account_pb.js";
import { Channel, Platform, SubscriptionStatus } from "./gen/tessera/v1/common_pb.js";
import {
  ActionKind,
  WarningKind,
  type ProtectionAction,
  type ProtectionWarning,
  type Seat,
  type SubscriptionProtection,
} from "./gen/tessera/v1/seat_pb.js";
import type { CheckOverlapResponse, Subscription } from "./gen/tessera/v1/subscription_pb.js";

interface AccountView {
  account: Account;
  entries: SubscriptionProtection[];
  seats: Map<string, Seat[]>;
  overlap: CheckOverlapResponse;
}

let view: AccountView | null = null;
let loading = false;
const planNames = new Map<string, string>();

const app = document.getElementById("app")!;
// Kept across renders, so that screen readers hear every message put into it.
const statusRegion = h("p", { id: "status", class: "status", role: "status" });
const dialog = buildDialog();

// ---------------------------------------------------------------------------------------
// Rendering

function render(): void {
  const kept = keepInputs();
  statusRegion.textContent = "";
  app.replaceChildren(
    h("a", { class: "skip", href: "#main" }, t("page.skip")),
    header(),
    h(
      "main",
      { id: "main", tabindex: -1 },
      h("h1", { id: "page-heading", tabindex: -1 }, t("page.heading")),
      view ? h("p", { class: "signed-in-as" }, t("page.signedInAs", { email: view.account.email })) : null,
      statusRegion,
      view ? accountSections(view) : loading ? h("p", {}, t("page.loading")) : signedOutSections(),
    ),
    dialog,
  );
  restoreInputs(kept);
}

/** Re-renders without losing what the customer typed or where the focus was. */
function rerender(): void {
  const focused = document.activeElement?.id;
  const message = statusRegion.textContent ?? "";
  render();
  statusRegion.textContent = message;
  if (focused) document.getElementById(focused)?.focus();
}

function keepInputs(): Map<string, string> {
  const kept = new Map<string, string>();
  app.querySelectorAll<HTMLInputElement | HTMLSelectElement>("main input[id], main select[id]").forEach((el) => {
    if (el instanceof HTMLInputElement && el.type === "checkbox") return;
    kept.set(el.id, el.value);
  });
  return kept;
}

function restoreInputs(kept: Map<string, string>): void {
  for (const [id, value] of kept) {
    const el = document.getElementById(id);
    if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) el.value = value;
  }
}

function header(): HTMLElement {
  return h(
    "header",
    { class: "top" },
    h(
      "div",
      { class: "bar" },
      h("p", { class: "brand" }, t("page.brand")),
      h(
        "div",
        { class: "tools" },
        h("label", { for: "language" }, t("page.language")),
        h(
          "select",
          { id: "language", onchange: (e: Event) => switchLanguage((e.target as HTMLSelectElement).value as Lang) },
          LANGUAGES.map(({ code, name }) =>
            h("option", { value: code, lang: code, selected: code === language() }, name),
          ),
        ),
        view ? h("button", { type: "button", id: "sign-out", class: "secondary", onclick: signOut }, t("page.signOut")) : null,
      ),
    ),
  );
}

function switchLanguage(lang: Lang): void {
  rememberLanguage(lang);
  setLanguage(lang);
  rerender();
}

function errorSlot(id: string): HTMLElement {
  return h("p", { id, class: "field-error", role: "alert" });
}

function field(
  id: string,
  label: string,
  attrs: Record<string, string | boolean | number>,
  hint?: string,
): HTMLElement[] {
  const elements: HTMLElement[] = [h("label", { for: id }, label)];
  if (hint) elements.push(h("p", { id: `${id}-hint`, class: "hint" }, hint));
  elements.push(h("input", { id, name: id, "aria-describedby": hint ? `${id}-hint` : null, ...attrs }));
  return elements;
}

function signedOutSections(): HTMLElement[] {
  return [
    h(
      "section",
      { "aria-labelledby": "sign-in-heading", class: "card" },
      h("h2", { id: "sign-in-heading" }, t("signIn.heading")),
      h("p", {}, t("signIn.intro")),
      h(
        "form",
        { id: "sign-in-form", novalidate: true, onsubmit: signIn },
        ...field("sign-in-email", t("signIn.email"), { type: "email", autocomplete: "username", required: true }),
        ...field("sign-in-password", t("signIn.password"), {
          type: "password",
          autocomplete: "current-password",
          required: true,
        }),
        errorSlot("sign-in-error"),
        h("button", { type: "submit" }, t("signIn.submit")),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "sign-up-heading", class: "card" },
      h("h2", { id: "sign-up-heading" }, t("signUp.heading")),
      h("p", {}, t("signUp.intro")),
      h(
        "form",
        { id: "sign-up-form", novalidate: true, onsubmit: signUp },
        ...field("sign-up-email", t("signIn.email"), { type: "email", autocomplete: "email", required: true }),
        ...field(
          "sign-up-password",
          t("signIn.password"),
          { type: "password", autocomplete: "new-password", required: true, minlength: 10 },
          t("signUp.passwordHint"),
        ),
        ...field("sign-up-name", t("signUp.displayName"), { type: "text", autocomplete: "name" }),
        errorSlot("sign-up-error"),
        h("button", { type: "submit" }, t("signUp.submit")),
      ),
    ),
  ];
}

function accountSections(v: AccountView): HTMLElement[] {
  const subscriptions = v.entries.map((e) => e.subscription!).filter(Boolean);
  return [
    h(
      "section",
      { "aria-labelledby": "add-heading", class: "card" },
      h("h2", { id: "add-heading" }, t("add.heading")),
      h(
        "form",
        { id: "key-form", novalidate: true, onsubmit: redeemKey },
        ...field(
          "product-key",
          t("key.label"),
          { type: "text", autocomplete: "off", spellcheck: "false", autocapitalize: "characters", class: "code" },
          t("key.hint"),
        ),
        h("label", { for: "renew-target" }, t("key.target")),
        h(
          "select",
          { id: "renew-target" },
          h("option", { value: "" }, t("key.targetNew")),
          subscriptions.map((s) => h("option", { value: s.name }, t("key.targetRenew", { plan: planOf(s) }))),
        ),
        errorSlot("product-key-error"),
        h("button", { type: "submit" }, t("key.submit")),
      ),
      h(
        "form",
        { id: "code-form", novalidate: true, onsubmit: redeemCode },
        ...field(
          "partner-code",
          t("code.label"),
          { type: "text", autocomplete: "off", spellcheck: "false", autocapitalize: "characters", class: "code" },
          t("code.hint"),
        ),
        errorSlot("partner-code-error"),
        h("button", { type: "submit" }, t("code.submit")),
      ),
    ),
    v.overlap.overlapping ? overlapAdvice(v.overlap) : null,
    h(
      "section",
      { "aria-labelledby": "subscriptions-heading", class: "subscriptions" },
      h(
        "div",
        { class: "section-head" },
        h("h2", { id: "subscriptions-heading", tabindex: -1 }, t("subs.heading")),
        h("button", { type: "button", id: "refresh", class: "secondary", onclick: refresh }, t("subs.refresh")),
      ),
      v.entries.length === 0
        ? h("p", { id: "no-subscriptions" }, t("subs.none"))
        : h("ul", { class: "subscription-list" }, v.entries.map((entry) => subscriptionCard(entry, subscriptions))),
    ),
  ].filter((el): el is HTMLElement => el !== null);
}

function overlapAdvice(overlap: CheckOverlapResponse): HTMLElement {
  const names = overlap.subscriptions.map((s) => planOf(s));
  const keep = overlap.subscriptions.find((s) => s.name === overlap.recommended);
  return h(
    "section",
    { "aria-labelledby": "overlap-heading", class: "card advice", id: "overlap" },
    h("h2", { id: "overlap-heading" }, t("overlap.heading")),
    h("p", {}, t("overlap.text", { list: formatList(names), keep: keep ? planOf(keep) : "" })),
  );
}

function subscriptionCard(entry: SubscriptionProtection, all: Subscription[]): HTMLElement {
  const s = entry.subscription!;
  const id = shortId(s.name);
  const seats = view?.seats.get(s.name) ?? [];
  const full = s.activeSeatCount >= s.seatLimit;
  const end = s.endTime ? timestampDate(s.endTime) : null;
  const targets = all.filter(
    (other) =>
      other.name !== s.name &&
      (other.status === SubscriptionStatus.ACTIVE || other.status === SubscriptionStatus.TRIAL),
  );
  return h(
    "li",
    {},
    h(
      "article",
      { class: "subscription", "aria-labelledby": `sub-${id}-heading`, "data-subscription": s.name },
      h("h3", { id: `sub-${id}-heading`, tabindex: -1 }, planOf(s)),
      entry.warnings.length > 0 ? warningBox(entry, s, id) : null,
      h(
        "dl",
        { class: "facts" },
        fact(t("sub.status"), t(`status.${SubscriptionStatus[s.status]}` as Key)),
        fact(t("sub.protection"), entry.protected ? t("sub.protected") : t("sub.unprotected")),
        fact(t("sub.daysLeftLabel"), end ? tn("sub.daysLeft", s.daysLeft, { date: formatDate(end) }) : String(s.daysLeft)),
        fact(
          t("sub.devicesLabel"),
          h(
            "span",
            { class: full ? "full" : "" },
            t("sub.devices", { used: s.activeSeatCount, limit: s.seatLimit }),
            full ? ` — ${t("sub.full")}` : "",
          ),
        ),
        s.productKey ? fact(t("sub.productKey"), h("code", { class: "key" }, s.productKey)) : null,
        fact(t("sub.channel"), t(`channel.${Channel[s.channel]}` as Key)),
        fact(t("sub.renewal"), renewal(s, id)),
      ),
      errorSlot(`sub-${id}-error`),
      h("h4", { id: `sub-${id}-devices` }, t("devices.heading")),
      seats.length === 0
        ? h("p", { class: "hint" }, t("devices.none"))
        : h(
            "ul",
            { class: "devices", "aria-labelledby": `sub-${id}-devices` },
            seats.map((seat) => deviceItem(seat, s, targets)),
          ),
    ),
  );
}

function fact(term: string, value: Node | string): HTMLElement {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}

function renewal(s: Subscription, id: string): Node | string {
  const ended = s.status === SubscriptionStatus.EXPIRED || s.status === SubscriptionStatus.CANCELLED;
  if (s.cancelAtPeriodEnd || ended) return t("sub.endsAtTermEnd");
  if (s.channel !== Channel.DIRECT) return t(`renewal.${Channel[s.channel]}` as Key);
  return h(
    "span",
    { class: "switch" },
    h("input", {
      type: "checkbox",
      role: "switch",
      id: `auto-renew-${id}`,
      checked: s.autoRenew,
      onchange: (e: Event) => setAutoRenew(s, (e.target as HTMLInputElement).checked, `auto-renew-${id}`),
    }),
    h("label", { for: `auto-renew-${id}` }, t("sub.autoRenew")),
  );
}

function warningBox(entry: SubscriptionProtection, s: Subscription, id: string): HTMLElement {
  const actions = entry.actions.map((a) => actionItem(a, s)).filter((el): el is HTMLElement => el !== null);
  return h(
    "div",
    { class: "warning", role: "group", "aria-labelledby": `sub-${id}-warning` },
    entry.warnings.map((w, i) => h("p", { id: i === 0 ? `sub-${id}-warning` : null, class: "warning-text" }, warningText(w))),
    actions.length > 0 ? [h("p", { class: "actions-heading" }, t("action.heading")), h("ul", { class: "actions" }, actions)] : null,
  );
}

function warningText(w: ProtectionWarning): string {
  switch (w.kind) {
    case WarningKind.EXPIRING_SOON:
      return tn("warning.EXPIRING_SOON", w.days);
    case WarningKind.IN_GRACE:
      return tn("warning.IN_GRACE", w.days);
    case WarningKind.EXPIRED:
    case WarningKind.SUSPENDED:
    case WarningKind.CANCELLED:
    case WarningKind.SEAT_REMOVED:
      return t(`warning.${WarningKind[w.kind]}` as Key);
    default:
      return w.message;
  }
}

function actionItem(action: ProtectionAction, s: Subscription): HTMLElement | null {
  switch (action.kind) {
    case ActionKind.RENEW:
      if (s.channel === Channel.DIRECT) {
        if (s.autoRenew || s.cancelAtPeriodEnd) return null;
        return h(
          "li",
          {},
          h("button", { type: "button", onclick: () => setAutoRenew(s, true, `sub-${shortId(s.name)}-heading`) }, t("action.turnOnAutoRenew")),
        );
      }
      if (s.channel === Channel.RETAIL) {
        return h(
          "li",
          {},
          h("button", { type: "button", onclick: () => startRenewal(s) }, t("action.enterRenewalKey")),
        );
      }
      return h("li", {}, s.channel === Channel.CARRIER ? t("action.renewCarrier") : t("action.renewStore"));
    case ActionKind.APPLY_SUBSCRIPTION:
      return h("li", {}, t("action.apply", { list: formatList(action.subscriptions.map(planOf)) }));
    case ActionKind.RECOVER_PURCHASE:
      return h("li", {}, t("action.recover"));
    default:
      return null;
  }
}

function deviceItem(seat: Seat, s: Subscription, targets: Subscription[]): HTMLElement {
  const id = shortId(seat.name);
  const seen = seat.lastSeenTime ? t("device.lastSeen", { date: formatDateTime(timestampDate(seat.lastSeenTime)) }) : t("device.neverSeen");
  return h(
    "li",
    { class: "device", "data-seat": seat.name },
    h("p", { class: "device-name", id: `seat-${id}-name` }, seat.displayName),
    h("p", { class: "device-meta" }, t(`platform.${Platform[seat.platform] ?? "UNSPECIFIED"}` as Key), " · ", seen),
    h(
      "div",
      { class: "device-actions" },
      h(
        "button",
        { type: "button", id: `remove-${id}`, class: "danger", onclick: () => confirmRemoval(seat, s) },
        t("device.remove"),
        hidden(` ${seat.displayName}`),
      ),
      targets.length > 0
        ? h(
            "form",
            { class: "move", novalidate: true, onsubmit: (e: Event) => moveDevice(e, seat, `move-${id}`) },
            h("label", { for: `move-${id}` }, t("device.moveTo")),
            h(
              "select",
              { id: `move-${id}`, "aria-describedby": `seat-${id}-name` },
              targets.map((target) => h("option", { value: target.name }, planOf(target))),
            ),
            h("button", { type: "submit", class: "secondary" }, t("device.move"), hidden(` ${seat.displayName}`)),
          )
        : null,
    ),
    errorSlot(`move-${id}-error`),
  );
}

function buildDialog(): HTMLDialogElement {
  return h(
    "dialog",
    { id: "confirm-removal", "aria-labelledby": "confirm-heading", "aria-describedby": "confirm-text" },
    h("h2", { id: "confirm-heading" }),
    h("p", { id: "confirm-text" }),
    h(
      "form",
      { method: "dialog", class: "dialog-buttons" },
      h("button", { value: "cancel", id: "confirm-cancel", class: "secondary" }),
      h("button", { value: "remove", id: "confirm-remove", class: "danger" }),
    ),
  );
}

// ---------------------------------------------------------------------------------------
// What the customer does

async function signIn(event: Event): Promise<void> {
  event.preventDefault();
  await submitting(event, "sign-in-error", {}, async () => {
    const answer = await api.accounts.signIn({
      email: input("sign-in-email"),
      password: input("sign-in-password"),
    });
    await enter(answer.sessionToken);
  });
}

async function signUp(event: Event): Promise<void> {
  event.preventDefault();
  const fields = { email: "sign-up-email", password: "sign-up-password", display_name: "sign-up-name" };
  await submitting(event, "sign-up-error", fields, async () => {
    const email = input("sign-up-email");
    const password = input("sign-up-password");
    await api.accounts.createAccount({ email, password, displayName: input("sign-up-name") });
    const answer = await api.accounts.signIn({ email, password });
    await enter(answer.sessionToken);
  });
}

async function enter(token: string): Promise<void> {
  api.keepSession(token);
  await load();
  render();
  statusRegion.textContent = t("page.welcome");
  focusById("page-heading");
}

async function signOut(): Promise<void> {
  try {
    await api.accounts.signOut({});
  } catch {
    // The session ends on this page either way.
  }
  api.forgetSession();
  view = null;
  render();
  statusRegion.textContent = t("page.signedOut");
  focusById("page-heading");
}

async function redeemKey(event: Event): Promise<void> {
  event.preventDefault();
  const fields = { product_key: "product-key", subscription: "renew-target" };
  await submitting(event, "product-key-error", fields, async () => {
    const target = (document.getElementById("renew-target") as HTMLSelectElement).value;
    const s = await api.productKeys.redeemProductKey({ productKey: input("product-key"), subscription: target });
    await afterChange(s, target ? "key.renewed" : "key.added");
  });
}

async function redeemCode(event: Event): Promise<void> {
  event.preventDefault();
  await submitting(event, "partner-code-error", { partner_code: "partner-code" }, async () => {
    const s = await api.subscriptions.redeemPartnerCode({ partnerCode: input("partner-code") });
    await afterChange(s, "key.added");
  });
}

/** After a redemption: the new state, a message, and focus on the subscription it concerns. */
async function afterChange(s: Subscription, message: Key): Promise<void> {
  for (const id of ["product-key", "partner-code", "renew-target"]) {
    const el = document.getElementById(id);
    if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) el.value = "";
  }
  await load();
  render();
  statusRegion.textContent = t(message, { plan: planOf(s) });
  focusById(`sub-${shortId(s.name)}-heading`);
}

function startRenewal(s: Subscription): void {
  (document.getElementById("renew-target") as HTMLSelectElement).value = s.name;
  focusById("product-key");
}

async function setAutoRenew(s: Subscription, on: boolean, focusId: string): Promise<void> {
  const id = shortId(s.name);
  try {
    const updated = await api.subscriptions.updateSubscription({
      subscription: { name: s.name, autoRenew: on },
      updateMask: { paths: ["auto_renew"] },
    });
    await load();
    render();
    statusRegion.textContent = t(updated.autoRenew ? "sub.autoRenewOn" : "sub.autoRenewOff", { plan: planOf(updated) });
    focusById(document.getElementById(focusId) ? focusId : `sub-${id}-heading`);
  } catch (error) {
    if (!handleSessionEnd(error)) {
      rerender();
      showProblem(`sub-${id}-error`, api.problemOf(error));
    }
  }
}

let removing: { seat: Seat; subscription: Subscription } | null = null;

function confirmRemoval(seat: Seat, s: Subscription): void {
  removing = { seat, subscription: s };
  document.getElementById("confirm-heading")!.textContent = t("confirm.heading");
  document.getElementById("confirm-text")!.textContent = t("confirm.text", { device: seat.displayName, plan: planOf(s) });
  document.getElementById("confirm-cancel")!.textContent = t("confirm.cancel");
  document.getElementById("confirm-remove")!.textContent = t("confirm.remove");
  dialog.returnValue = "";
  dialog.showModal();
  // The harmless choice has the focus: Enter does not remove a device by accident.
  focusById("confirm-cancel");
}

dialog.addEventListener("close", async () => {
  const pending = removing;
  removing = null;
  if (!pending) return;
  const { seat, subscription } = pending;
  const id = shortId(seat.name);
  if (dialog.returnValue !== "remove") {
    focusById(`remove-${id}`);
    return;
  }
  try {
    await api.seats.deactivateSeat({ name: seat.name });
    await load();
    render();
    statusRegion.textContent = t("device.removed", { device: seat.displayName });
    focusById(`sub-${shortId(subscription.name)}-heading`);
  } catch (error) {
    if (!handleSessionEnd(error)) showProblem(`move-${id}-error`, api.problemOf(error));
  }
});

async function moveDevice(event: Event, seat: Seat, selectId: string): Promise<void> {
  event.preventDefault();
  const target = (document.getElementById(selectId) as HTMLSelectElement).value;
  await submitting(event, `${selectId}-error`, {}, async () => {
    await api.seats.applySubscription({ seat: seat.name, subscription: target });
    await load();
    render();
    const moved = view?.entries.find((e) => e.subscription?.name === target)?.subscription;
    statusRegion.textContent = t("device.moved", { device: seat.displayName, plan: moved ? planOf(moved) : "" });
    focusById(`sub-${shortId(target)}-heading`);
  });
}

async function refresh(): Promise<void> {
  try {
    await load();
    rerender();
    statusRegion.textContent = t("subs.refreshed");
  } catch (error) {
    if (!handleSessionEnd(error)) statusRegion.textContent = explain(api.problemOf(error));
  }
}

/** Runs a form's call: busy while it runs, the API's refusal shown next to the form. */
async function submitting(
  event: Event,
  errorId: string,
  fields: Record<string, string>,
  action: () => Promise<void>,
): Promise<void> {
  const form = event.target as HTMLFormElement;
  const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const slot = document.getElementById(errorId);
  if (slot) slot.textContent = "";
  form.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    if (handleSessionEnd(error)) return;
    const problem = api.problemOf(error);
    showProblem(errorId, problem);
    const inputId = problem.field ? fields[problem.field] : undefined;
    const target = inputId ? document.getElementById(inputId) : null;
    if (target) {
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-errormessage", errorId);
      target.focus();
    }
  } finally {
    form.removeAttribute("aria-busy");
    if (button) button.disabled = false;
  }
}

function showProblem(errorId: string, problem: api.Problem): void {
  const slot = document.getElementById(errorId);
  if (slot) slot.textContent = explain(problem);
}

/** The API's refusal in the customer's language. */
function explain(problem: api.Problem): string {
  if (problem.field && problem.description) return describeField(problem.field, problem.description);
  switch (problem.reason) {
    case "INVALID_CREDENTIALS":
    case "ACCOUNT_EXISTS":
    case "PRODUCT_KEY_NOT_FOUND":
    case "PRODUCT_KEY_ALREADY_REDEEMED":
    case "PARTNER_CODE_NOT_FOUND":
    case "PARTNER_CODE_ALREADY_REDEEMED":
    case "PARTNER_CODE_EXPIRED":
    case "SUBSCRIPTION_NOT_ACTIVE":
    case "SUBSCRIPTION_ENDED":
      return t(`error.${problem.reason}` as Key);
    case "REDEMPTION_THROTTLED":
      return t("error.REDEMPTION_THROTTLED", { minutes: Math.max(1, Math.ceil((problem.retryAfterSeconds ?? 60) / 60)) });
    case "SEAT_LIMIT_REACHED": {
      const limit = problem.metadata.seat_limit ?? "";
      const devices = Object.entries(problem.metadata)
        .filter(([key]) => key !== "seat_limit")
        .map(([, name]) => name);
      const sentence = tn("error.SEAT_LIMIT_REACHED", Number(limit));
      return devices.length > 0 ? `${sentence} ${t("error.heldDevices", { list: formatList(devices) })}` : sentence;
    }
    case "STORAGE_UNAVAILABLE":
      return t("error.unavailable");
  }
  if (problem.code === Code.Unavailable || problem.code === Code.DeadlineExceeded || problem.reason === "") {
    return t("error.unavailable");
  }
  return t("error.other", { message: problem.message });
}

/** Whether the call failed because the session is gone; if so the page asks to sign in again. */
function handleSessionEnd(error: unknown): boolean {
  const problem = api.problemOf(error);
  if (!api.sessionEnded(problem)) return false;
  api.forgetSession();
  view = null;
  loading = false;
  render();
  statusRegion.textContent = t("page.sessionEnded");
  focusById("page-heading");
  return true;
}

// ---------------------------------------------------------------------------------------
// Loading

async function load(): Promise<void> {
  const me = "accounts/me";
  const [account, protection, overlap] = await Promise.all([
    api.accounts.getAccount({ name: me }),
    api.seats.checkAccountProtection({ parent: me }),
    api.subscriptions.checkOverlap({ parent: me }),
    planNames.size === 0 ? loadPlans() : Promise.resolve(),
  ]);
  const lists = await Promise.all(
    protection.subscriptions.map((entry) =>
      api.seats.listSeats({ parent: entry.subscription!.name, pageSize: 100 }),
    ),
  );
  const seats = new Map<string, Seat[]>();
  protection.subscriptions.forEach((entry, i) => seats.set(entry.subscription!.name, lists[i].seats));
  view = { account, entries: protection.subscriptions, seats, overlap };
}

async function loadPlans(): Promise<void> {
  const { plans } = await api.subscriptions.listPlans({});
  for (const plan of plans) planNames.set(plan.name, plan.displayName);
}

function planOf(s: Subscription): string {
  return planNames.get(s.plan) ?? s.plan.replace(/^plans\//, "");
}

function shortId(name: string): string {
  return name.split("/").pop() ?? name;
}

function input(id: string): string {
  return (document.getElementById(id) as HTMLInputElement).value;
}

// ---------------------------------------------------------------------------------------
// Start

async function start(): Promise<void> {
  setLanguage(initialLanguage());
  if (!api.hasSession()) {
    render();
    return;
  }
  loading = true;
  render();
  try {
    await load();
    loading = false;
    render();
  } catch (error) {
    loading = false;
    if (handleSessionEnd(error)) return;
    render();
    statusRegion.textContent = explain(api.problemOf(error));
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && view && !dialog.open) {
    load()
      .then(rerender)
      .catch((error) => handleSessionEnd(error));
  }
});

void start();
