/** Tiny DOM helpers: elements are created once and only their text/classes change (no layout jumps). */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`invariant: #${id} is missing from index.html`);
  return found as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== undefined) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Sets text only when it changed, so selection and hover survive the 4 Hz refresh. */
export function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

export function setClass(node: Element, className: string): void {
  if (node.className !== className) node.className = className;
}

/** Replaces a container's children only when the rendered key changed. */
export function replaceIfChanged(node: HTMLElement, key: string, build: () => Node[]): void {
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  node.replaceChildren(...build());
}
