// Sign-in and sign-up forms, and the helpers the account page's password form shares with them: field checks in the
// browser, then the API's answer in plain words.

import { api } from './api.js';
import { clearSignedOut } from './session-end.js';
import { alertBox, errorBox, show, whileBusy } from './ui.js';

const HOME_PATH = '/settings/api-keys';

/** Where to go after signing in: the page that sent the user here, if it is one of ours. */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  return next && /^\/[A-Za-z0-9/_-]*$/.test(next) && !next.startsWith('//') ? next : HOME_PATH;
}

function fieldMessage(input) {
  const label = document.querySelector(`label[for="${input.id}"]`)?.textContent ?? input.name;
  if (input.validity.valueMissing) return `Enter your ${label.toLowerCase()}.`;
  if (input.validity.typeMismatch) return 'Enter an email address like ada@example.com.';
  if (input.validity.tooShort) return `Use at least ${input.minLength} characters.`;
  return input.validationMessage;
}

/** Marks invalid fields with a message under each; returns false when any is invalid. */
export function checkFields(form) {
  let firstInvalid = null;
  for (const input of form.querySelectorAll('input')) {
    const error = document.getElementById(`${input.id}-error`);
    // A name of only spaces is as empty as no name.
    if (input.required && input.type !== 'password' && input.value.trim() === '') input.value = '';
    const valid = input.checkValidity();
    input.setAttribute('aria-invalid', String(!valid));
    if (error) error.textContent = valid ? '' : fieldMessage(input);
    if (!valid) firstInvalid ??= input;
  }
  firstInvalid?.focus();
  return firstInvalid === null;
}

/**
 * On submit: clears `alertArea`, checks the fields (checkFields), then runs `send()` while the submit button is
 * busy, saying `busyLabel`.
 */
export function onCheckedSubmit(form, alertArea, busyLabel, send) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    show(alertArea, null);
    if (!checkFields(form)) return;
    await whileBusy(form.querySelector('button[type="submit"]'), busyLabel, send);
  });
}

/**
 * Shows the answer to a submit in `alertArea`, focused: the submit button was disabled while waiting, which dropped
 * focus to the page body; on the message, a screen reader reads it and Tab goes on from there.
 */
export function showFocused(alertArea, box) {
  show(alertArea, box);
  box.tabIndex = -1;
  box.focus();
}

const NOTICES = {
  'signed-out': ['success', 'You have signed out.'],
  expired: ['info', 'Your session has ended. Sign in again to continue.'],
};

/**
 * @param {string} path the API call, e.g. "/v1/login"
 * @param {(form: HTMLFormElement) => object} bodyOf the request body from the form
 */
export function startAuthForm(path, bodyOf) {
  const form = document.querySelector('form[data-form]');
  const alertArea = document.querySelector('[data-page-alert]');
  const params = new URLSearchParams(location.search);
  for (const [param, [kind, text]] of Object.entries(NOTICES)) {
    if (params.has(param)) show(alertArea, alertBox(kind, text, { role: 'status' }));
  }
  window.addEventListener('unhandledrejection', (event) => show(alertArea, errorBox(event.reason)));

  for (const input of form.querySelectorAll('input')) {
    input.addEventListener('input', () => {
      if (input.getAttribute('aria-invalid') === 'true' && input.checkValidity()) {
        input.setAttribute('aria-invalid', 'false');
        const error = document.getElementById(`${input.id}-error`);
        if (error) error.textContent = '';
      }
    });
  }

  onCheckedSubmit(form, alertArea, 'One moment…', async () => {
    try {
      await api('POST', path, bodyOf(form));
      clearSignedOut(); // a session that ends from now on was not signed out by an earlier sign-out
      location.assign(nextPath());
    } catch (error) {
      // A refused password or a taken email is said under its field, where the next one is typed.
      if (error?.code === 'weak_password' && showOnField(form.elements.password, error.message)) return;
      if (error?.code === 'email_taken' && showOnField(form.elements.email, error.message, signInInstead())) return;
      showFocused(alertArea, errorBox(error));
    }
  });
  // Both forms start with the email: typing can begin at once.
  form.elements.email?.focus();
}

/** Puts `message` (and `extra`) on the field's error line and focuses the field; false when it has no such line. */
function showOnField(input, message, extra) {
  const line = input && document.getElementById(`${input.id}-error`);
  if (!line) return false;
  input.setAttribute('aria-invalid', 'true');
  line.replaceChildren(message, ...(extra ? [' ', extra] : []));
  input.focus();
  return true;
}

/** "Sign in instead", to the sign-in page, going on afterwards where sign-up would have. */
function signInInstead() {
  const next = new URLSearchParams(location.search).get('next');
  const link = document.createElement('a');
  link.href = next ? `/sign-in?${new URLSearchParams({ next })}` : '/sign-in';
  link.textContent = 'Sign in instead';
  return link;
}
