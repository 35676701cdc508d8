// Settings → Account: change the password (the current one required), see where you are signed in, and sign
// out one session or every other one.

import { api } from './api.js';
import { onCheckedSubmit, showFocused } from './auth-form.js';
import { showPageError, startSignedInPage } from './shell.js';
import { clearSignedOut, markSignedOut } from './session-end.js';
import { alertBox, errorBox, h, toast, whileBusy } from './ui.js';
import { describeUserAgent, plural, timeElement } from './format.js';

const $ = (selector) => document.querySelector(selector);

function startPasswordForm() {
  const form = $('[data-password-form]');
  const alertArea = $('[data-form-alert]');
  onCheckedSubmit(form, alertArea, 'Changing…', async () => {
    let box;
    try {
      const { otherSessionsEnded } = await api('POST', '/v1/account/password', {
        currentPassword: form.elements.currentPassword.value,
        newPassword: form.elements.newPassword.value,
      });
      form.reset();
      void loadSessions(); // the other sessions have ended
      box = alertBox(
        'success',
        otherSessionsEnded > 0
          ? `Password changed. ${plural(otherSessionsEnded, 'other session')} signed out; this one stays signed in.`
          : 'Password changed. There were no other sessions to sign out.',
        { role: 'status' },
      );
    } catch (error) {
      box = errorBox(error, 'The password was not changed');
    }
    showFocused(alertArea, box);
  });
}

const SIGNED_OUT_URL = '/sign-in?signed-out=1';

function sessionItem(session) {
  const browser = session.userAgent === null ? 'A browser' : describeUserAgent(session.userAgent);
  const where = session.clientAddress ? ` · ${session.clientAddress}` : '';
  const label = session.current ? 'Sign out this browser' : `Sign out ${browser}${where}`;
  const button = h('button', { class: 'button secondary small', type: 'button', 'aria-label': label }, 'Sign out');
  button.addEventListener('click', () => endSession(session, button));
  return h(
    'li',
    { class: 'session', 'data-session': session.id },
    h(
      'div',
      { class: 'session-what' },
      h(
        'span',
        { class: 'session-browser', title: session.userAgent ?? '' },
        browser,
        session.current ? h('span', { class: 'session-current' }, 'This browser') : null,
      ),
      h(
        'span',
        { class: 'session-detail' },
        session.clientAddress ?? 'address not recorded',
        ' · ',
        timeElement(session.createdAt, 'signed in '),
      ),
    ),
    button,
  );
}

async function loadSessions() {
  const list = $('[data-session-list]');
  try {
    const { sessions } = await api('GET', '/v1/account/sessions');
    list.replaceChildren(...sessions.map(sessionItem));
  } catch (error) {
    showPageError(error, 'Could not load your sessions');
  } finally {
    list.removeAttribute('aria-busy');
  }
}

async function endSession(session, button) {
  await whileBusy(button, 'Signing out…', async () => {
    // Marked before asking, as the top bar's Sign out does: the answer clears this session's cookie.
    if (session.current) markSignedOut();
    try {
      await api('DELETE', `/v1/account/sessions/${encodeURIComponent(session.id)}`);
    } catch (error) {
      // Already ended elsewhere (404): the list below shows what is left.
      if (error?.code !== 'session_not_found') {
        if (session.current) clearSignedOut();
        showPageError(error, 'Could not sign out that session');
        return;
      }
    }
    if (session.current) {
      markSignedOut();
      location.assign(SIGNED_OUT_URL);
      return;
    }
    toast('Session signed out.');
    await loadSessions();
    $('[data-session-list] button')?.focus();
  });
}

function startSessions() {
  const button = $('[data-end-other-sessions]');
  button.addEventListener('click', () =>
    whileBusy(button, 'Signing out…', async () => {
      try {
        const { sessionsEnded } = await api('DELETE', '/v1/sessions/others');
        toast(
          sessionsEnded > 0
            ? `${plural(sessionsEnded, 'other session')} signed out. This one stays signed in.`
            : 'There were no other sessions. This one stays signed in.',
        );
        await loadSessions();
      } catch (error) {
        showPageError(error, 'Could not sign out the other sessions');
      }
    }),
  );
}

async function start() {
  startPasswordForm();
  startSessions();
  if (await startSignedInPage()) await loadSessions();
}

void start();
