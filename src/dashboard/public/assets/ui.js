// Small DOM helpers shared by the pages. Text always goes in as text (never as HTML),
// so key names and audit details cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('button', { class: 'button', type: 'button', onclick: fn }, 'Label', child)
 * Attributes named on* become listeners; false, null and undefined are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const ICONS = {
  trash: ['M3 6h18', 'M8 6V4h8v2', 'M19 6l-1 14H6L5 6', 'M10 11v6', 'M14 11v6'],
  copy: ['M9 9h11v11H9z', 'M5 15H4V4h11v1'],
  check: ['M20 6L9 17l-5-5'],
  rotate: ['M21 12a9 9 0 1 1-3-6.7', 'M21 4v5h-5'],
  alert: ['M12 3l10 18H2z', 'M12 10v4', 'M12 17.5v.5'],
  info: ['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 11v6', 'M12 7.5v.5'],
  ok: ['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M8 12l3 3 5-6'],
  pencil: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
};

/** A 24×24 stroke icon, hidden from assistive technology (the control carries the label). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const ALERT_ICONS = { error: 'alert', warning: 'alert', info: 'info', success: 'ok' };

/** An alert box: kind is error, warning, info or success; body is text or nodes. */
export function alertBox(kind, body, { title, role } = {}) {
  const paragraphs = (Array.isArray(body) ? body : [body]).map((part) =>
    part instanceof Node && part.nodeName === 'P' ? part : h('p', {}, part),
  );
  return h(
    'div',
    { class: `alert ${kind}`, role: role ?? (kind === 'error' ? 'alert' : null) },
    icon(ALERT_ICONS[kind]),
    h('div', { class: 'alert-body' }, title ? h('p', { class: 'alert-title' }, title) : null, paragraphs),
  );
}

/**
 * An API (or any) error, in plain words. The request id (to quote to support) only with a failure on
 * keyward's side: a wrong password or a bad name is the user's to fix, and an id there is noise.
 */
export function errorBox(error, title) {
  const message = error && typeof error.message === 'string' ? error.message : 'Something went wrong.';
  const parts = [message];
  const usersToFix = typeof error?.status === 'number' && error.status >= 400 && error.status < 500;
  if (error && error.requestId && !usersToFix) {
    parts.push(h('p', { class: 'request-id' }, 'Request ID: ', h('code', {}, error.requestId)));
  }
  return alertBox('error', parts, { title });
}

/** Replaces what `container` shows with `nodes` (none: clears it). */
export function show(container, ...nodes) {
  container.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined && node !== false));
}

let toastTimer;

/** A short confirmation at the bottom of the screen, read out by screen readers. */
export function toast(message) {
  const region = document.querySelector('[data-toast]');
  if (!region) return;
  region.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (region.textContent = ''), 6000);
}

/** Copies text; falls back to a selected field and execCommand where the Clipboard API is unavailable (plain HTTP). */
export async function copyText(text, fallbackInput) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the selection
    }
  }
  if (fallbackInput) {
    fallbackInput.focus();
    fallbackInput.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * A secret shown once: a read-only field holding it and a Copy button. `onCopy` runs when it is copied, by the
 * button or by Ctrl+C in the field; the toasts say `copied` or, where copying is blocked, to `select …` by hand.
 */
export function secretField(secret, { id, attribute, copied, select, onCopy }) {
  const input = h('input', {
    id,
    type: 'text',
    readonly: true,
    spellcheck: 'false',
    autocomplete: 'off',
    [attribute]: true,
  });
  input.value = secret;
  input.addEventListener('focus', () => input.select());
  if (onCopy) input.addEventListener('copy', onCopy);
  const copy = h('button', { class: 'button secondary', type: 'button', 'data-copy': true }, icon('copy'), 'Copy');
  copy.addEventListener('click', async () => {
    if (await copyText(secret, input)) {
      onCopy?.();
      copy.replaceChildren(icon('check'), 'Copied');
      toast(copied);
    } else {
      toast(`Copying is blocked here: ${select} and press Ctrl+C (⌘C on a Mac).`);
      input.focus();
    }
  });
  return h('div', { class: 'key-reveal' }, input, copy);
}

/**
 * Opens a modal <dialog> and gives focus back to what opened it when it closes
 * (by a button, Escape or the page).
 */
export function openModal(dialog, { opener = document.activeElement, onClose } = {}) {
  const handleClose = () => {
    dialog.removeEventListener('close', handleClose);
    onClose?.();
    // A list refreshed meanwhile may have replaced the opener with an equivalent control.
    const target =
      opener instanceof HTMLElement && !opener.isConnected && opener.dataset.focusId
        ? document.querySelector(`[data-focus-id="${CSS.escape(opener.dataset.focusId)}"]`)
        : opener;
    if (target instanceof HTMLElement && target.isConnected && !target.disabled) target.focus();
    else document.querySelector('main h1')?.focus();
  };
  dialog.addEventListener('close', handleClose);
  dialog.showModal();
}

/** Disables a button while `work` runs, showing `busyLabel`. */
export async function whileBusy(button, busyLabel, work) {
  const content = [...button.childNodes];
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (busyLabel) button.textContent = busyLabel;
  try {
    return await work();
  } finally {
    if (button.isConnected) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      if (busyLabel) button.replaceChildren(...content);
    }
  }
}
