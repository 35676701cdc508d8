// What every signed-in page shares: who is signed in, signing out, expired
// sessions, relative times kept current, and a visible message instead of a
// blank page when something fails.

import { api, setSessionExpiredHandler } from './api.js';
import { refreshTimes } from './format.js';
import { clearSignedOut, markSignedOut, sessionEndReason } from './session-end.js';
import { alertBox, errorBox, show } from './ui.js';

export const SIGN_IN_PATH = '/sign-in';

export function signInUrl(reason) {
  const params = new URLSearchParams({ next: location.pathname });
  if (reason) params.set(reason, '1');
  return `${SIGN_IN_PATH}?${params}`;
}

/** The page's own alert area (above its content). */
export function pageAlert() {
  return document.querySelector('[data-page-alert]');
}

export function showPageError(error, title) {
  const container = pageAlert();
  if (container) show(container, errorBox(error, title));
}

function showUnexpected(error) {
  const detail = error instanceof Error ? error.message : String(error);
  const container = pageAlert();
  if (!container) return;
  show(
    container,
    alertBox('error', ['The dashboard ran into a problem it did not expect. Reload the page to try again.', detail], {
      title: 'Something went wrong',
    }),
  );
}

let sessionEndGuard = null;
/** Set while this tab signs out: a call that finds the session ended meanwhile goes where signing out goes. */
let signingOut = false;
/** Set once the page is leaving for the sign-in page (its calls still pending then fail: that is no error). */
let leaving = false;
const SIGNED_OUT_URL = `${SIGN_IN_PATH}?signed-out=1`;

/**
 * `guard()` is asked first when the session turns out to have ended; answering true keeps the page
 * (it shows a one-time key that must not vanish by itself) and makes the page responsible for going on.
 */
export function guardSessionEnd(guard) {
  sessionEndGuard = guard;
}

/**
 * Sets up the page; resolves with the session (user and account), or with null when it could not be
 * loaded (the page's alert then says why).
 */
export async function startSignedInPage() {
  setSessionExpiredHandler(() => {
    // Several calls can find the session ended (a poll, a refresh, a click): the first one leaves, and a second
    // location.assign would cut that navigation short.
    if (leaving || (!signingOut && sessionEndGuard?.())) return;
    leaving = true;
    location.assign(signingOut ? SIGNED_OUT_URL : signInUrl(sessionEndReason()));
  });
  window.addEventListener('error', (event) => showUnexpected(event.error ?? event.message));
  window.addEventListener('unhandledrejection', (event) => showUnexpected(event.reason));

  const signOut = document.querySelector('[data-sign-out]');
  signOut?.addEventListener('click', async () => {
    signOut.disabled = true;
    // Marked before asking: this tab's polling, or another tab's, may find the session ended before the answer.
    signingOut = true;
    markSignedOut();
    try {
      await api('POST', '/v1/logout');
      if (leaving) return; // a call that found the session ended is already on its way there
      leaving = true;
      location.assign(SIGNED_OUT_URL);
    } catch (error) {
      if (leaving) return; // the request was cut by leaving for the sign-in page: the session has ended
      signingOut = false;
      clearSignedOut();
      signOut.disabled = false;
      showPageError(error, 'Could not sign out');
    }
  });

  setInterval(() => refreshTimes(), 15_000);

  let session;
  try {
    session = await api('GET', '/v1/session');
  } catch (error) {
    showPageError(error, 'Could not load your account');
    return null;
  }
  // The account's name and email lead to Settings → Account (password, sessions). Made a link here rather
  // than in each page's header, so that every signed-in page gets it.
  const who = document.querySelector('.account-who');
  if (who && who.tagName !== 'A') {
    const link = document.createElement('a');
    link.className = who.className;
    link.href = '/settings/account';
    link.title = 'Account: password and sessions';
    if (location.pathname === '/settings/account') link.setAttribute('aria-current', 'page');
    link.append(...who.childNodes);
    who.replaceWith(link);
  }
  const name = document.querySelector('[data-account-name]');
  const email = document.querySelector('[data-account-email]');
  if (name) name.textContent = session.account.name;
  if (email) email.textContent = session.user.email;
  return session;
}
