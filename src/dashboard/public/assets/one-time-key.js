// The key, shown once: held while a dialog shows it, guarded against closing before it is copied; generating one.

import { api } from './api.js';
import { signInUrl } from './shell.js';
import { sessionEndReason } from './session-end.js';
import { alertBox, copyText, errorBox, h, icon, openModal, secretField, show, toast, whileBusy } from './ui.js';
import { $, accountRateLimit, quoted, state } from './keys-page-state.js';
import { pauseRefreshing, refresh } from './key-polling.js';
import { accessFields, scopeCatalogue, showOnField } from './key-access.js';

/** The one-time key while it is on screen (a dialog), and whether it was copied. */
let secret = null;

export function holdSecret(noticeArea) {
  secret = { copied: false, sessionEnded: false, noticeArea };
  return secret;
}

/** The dialog showing the key closed: the key is gone; a session that ended meanwhile now goes to sign in. */
export function releaseSecret() {
  const ended = secret?.sessionEnded;
  secret = null;
  if (ended) location.assign(signInUrl(sessionEndReason()));
}

const secretAtRisk = () => secret !== null && !secret.copied;

window.addEventListener('beforeunload', (event) => {
  if (secretAtRisk()) event.preventDefault();
});

/**
 * Escape (or Close, or Done) on a dialog that shows a key not yet copied asks first; Escape never discards
 * the key (pressed again, it goes back to the key). Done or Close clicked while the question shows asks
 * again (the question stays, announced anew, its safe answer focused): it used to hide the question, so a
 * click on Done looked as if nothing happened. `close` discards. Returns what the dialog's own Close or
 * Done buttons call.
 */
export function guardSecretDialog(dialog, area, close) {
  const attempt = ({ escape = false } = {}) => {
    if (!secretAtRisk()) return close();
    if (escape && $('[data-keep-key]', area)) return backToKey(dialog, area);
    askBeforeDiscarding(dialog, area, close);
  };
  // Escape is handled on keydown (Chromium then sends no cancel event); the cancel event covers other
  // ways of closing (a browser's own close request), without acting twice on one Escape.
  let escapeHandled = false;
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !secretAtRisk()) return;
    event.preventDefault();
    escapeHandled = true;
    setTimeout(() => (escapeHandled = false));
    attempt({ escape: true });
  });
  dialog.addEventListener('cancel', (event) => {
    if (!secretAtRisk()) return;
    event.preventDefault();
    if (!escapeHandled) attempt({ escape: true });
  });
  return () => attempt();
}

function backToKey(dialog, area) {
  show(area, null);
  const copy = $('[data-copy]', dialog);
  if (copy) copy.focus();
  else state.rotation?.go(2); // asked at step 3: the key is on step 2
}

function askBeforeDiscarding(dialog, area, close) {
  const back = h('button', { class: 'button', type: 'button', 'data-keep-key': true }, 'Back to the key');
  const discard = h('button', { class: 'button secondary', type: 'button' }, 'Close without copying');
  back.addEventListener('click', () => backToKey(dialog, area));
  discard.addEventListener('click', () => close());
  show(
    area,
    alertBox(
      'warning',
      [
        'You have not copied this key. keyward keeps only a hash of it: once this dialog closes, nobody can show it again, and you would have to generate a new key.',
        h('div', { class: 'confirm-actions' }, back, discard),
      ],
      { title: 'Close without copying the key?', role: 'alert' },
    ),
  );
  back.focus();
}

/** The session ended (signed out in another tab, or expired) while a key is shown: keep it on screen. */
export function sessionEndedWhileKeyShown() {
  if (secret === null) return false;
  if (!secret.sessionEnded) {
    secret.sessionEnded = true;
    pauseRefreshing();
    show(
      secret.noticeArea,
      alertBox(
        'warning',
        'You were signed out (in another tab, or the session expired). The key stays here until you close this dialog: copy it first, then sign in again.',
        { title: 'Your session has ended', role: 'alert' },
      ),
    );
  }
  return true;
}

/** Stands for the key in the empty state's snippet, where no key is on screen: pasted as is, it says what to do. */
export const KEY_PLACEHOLDER = 'paste-your-key-here';

/**
 * The same first call everywhere (empty state and the one-time key): set the variable, then check the key with
 * curl. The line that sets it is part of the snippet, so a paste works (without it, a paste answered 401).
 */
function curlSnippet(apiKey) {
  return `export KEYWARD_API_KEY='${apiKey ?? KEY_PLACEHOLDER}'\ncurl ${location.origin}/v1/me \\\n  -H "x-api-key: $KEYWARD_API_KEY"`;
}

/** The snippet with Copy; `apiKey` is the key shown once, or none (the empty state: a placeholder to replace). */
export function curlBlock(id, apiKey) {
  const snippet = curlSnippet(apiKey);
  return h(
    'div',
    { class: 'snippet' },
    h('pre', { id, 'data-curl': true }, h('code', {}, snippet)),
    h(
      'button',
      {
        class: 'button secondary small',
        type: 'button',
        'aria-label': 'Copy the curl command',
        onclick: async () => toast((await copyText(snippet)) ? 'curl command copied.' : 'Copying is blocked here.'),
      },
      icon('copy'),
      'Copy',
    ),
  );
}

/** The key, once, with Copy. `warningId` names the warning for the dialog's aria-describedby. */
export function keyReveal(apiKey, key, { warningId } = {}) {
  const inputId = `reveal-${key.id}`;
  const field = secretField(apiKey, {
    id: inputId,
    attribute: 'data-api-key',
    copied: 'API key copied to the clipboard.',
    select: 'select the key',
    onCopy: () => {
      if (secret) secret.copied = true;
    },
  });
  const warning = alertBox(
    'warning',
    [
      'Copy this key now and store it somewhere safe, such as your secret manager. keyward keeps only a hash of it: if you lose it, generate a new key.',
    ],
    { title: 'This key will not be shown again' },
  );
  if (warningId) warning.id = warningId;
  return h(
    'div',
    { class: 'key-reveal-block' },
    warning,
    h(
      'div',
      { class: 'field' },
      h('label', { for: inputId }, `API key ${quoted(key.name)}`),
      field,
      h(
        'p',
        { class: 'hint' },
        'Send it in the ',
        h('code', {}, 'x-api-key'),
        ' header of every request. Try it in a terminal (the first line puts this key in ',
        h('code', {}, 'KEYWARD_API_KEY'),
        '):',
      ),
      curlBlock(`${inputId}-curl`, apiKey),
    ),
  );
}

export const revealDialog = () => $('[data-reveal-dialog]');

function showReveal(apiKey, key, opener) {
  const dialog = revealDialog();
  const body = $('[data-reveal-body]', dialog);
  const notices = $('[data-reveal-notices]', dialog);
  show(notices, null);
  holdSecret(notices);
  show(body, keyReveal(apiKey, key, { warningId: 'reveal-warning' }));
  // The secret leaves the page when the dialog does.
  openModal(dialog, {
    opener,
    onClose: () => {
      show(body, null);
      show(notices, null);
      releaseSecret();
    },
  });
  $('[data-copy]', body).focus();
}

// ---------- Generate ----------

/** The access fields of the open generate dialog (key-access.js). */
let generateAccess = null;

export async function openGenerate(opener) {
  const dialog = $('[data-generate-dialog]');
  const form = $('[data-generate-form]', dialog);
  // Loaded as the page starts: by the time anyone clicks, this is at most a resolved promise.
  const scopes = await scopeCatalogue();
  if (dialog.open) return;
  form.reset();
  generateAccess = accessFields('generate', null, scopes, accountRateLimit());
  show($('[data-access-fields]', dialog), generateAccess.element);
  show($('[data-dialog-alert]', dialog), null);
  openModal(dialog, { opener });
  $('#generate-name').focus();
}

export async function submitGenerate(event) {
  event.preventDefault();
  const dialog = $('[data-generate-dialog]');
  const name = $('#generate-name').value.trim();
  const expiry = Number($('#generate-expiry').value);
  const submit = $('button[type="submit"]', dialog);
  const alertArea = $('[data-dialog-alert]', dialog);
  const access = generateAccess.read();
  if (access.error) {
    show(alertArea, alertBox('error', access.error, { role: 'alert' }));
    access.field.focus();
    return;
  }
  await whileBusy(submit, 'Generating…', async () => {
    try {
      const body = name ? { name } : {};
      if (expiry > 0) body.expiresInSeconds = expiry;
      // Unset (null) is the default: only what was set is sent.
      for (const [field, value] of Object.entries(access.body)) if (value !== null) body[field] = value;
      const created = await api('POST', '/v1/keys', body);
      dialog.close();
      showReveal(created.apiKey, created.key, $('[data-generate]'));
      void refresh();
    } catch (error) {
      if (!showOnField(generateAccess, error)) show(alertArea, errorBox(error));
    }
  });
}
