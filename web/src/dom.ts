// A small helper to build the page's elements: no framework, so the page loads little
// and its markup is exactly what assistive technology reads.

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined | ((event: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (name === "class") {
      element.className = String(value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Text only screen readers read (e.g. which device a "Remove" button removes). */
export function hidden(text: string): HTMLSpanElement {
  return h("span", { class: "visually-hidden" }, text);
}

/** Replaces the content of the element with `id`, if it is on the page. */
export function fillById(id: string, ...children: (Child | Child[])[]): void {
  const element = document.getElementById(id);
  if (element) element.replaceChildren(...Array.from(h("div", {}, ...children).childNodes));
}

/** Moves focus to the element with `id` (making it focusable if it is not). */
export function focusById(id: string): void {
  const element = document.getElementById(id);
  if (!element) return;
  if (!element.matches("a, button, input, select, textarea, [tabindex]")) {
    element.setAttribute("tabindex", "-1");
  }
  element.focus();
}
