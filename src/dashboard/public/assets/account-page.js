// Settings → Account: change the password (the current one required) and sign out of other sessions.

import { api } from './api.js';
import { onCheckedSubmit, showFocused } from './auth-form.js';
import { showPageError, startSignedInPage } from './shell.js';
import { alertBox, errorBox, toast, whileBusy } from './ui.js';
import { plural } from './format.js';

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
      } catch (error) {
        showPageError(error, 'Could not sign out the other sessions');
      }
    }),
  );
}

async function start() {
  startPasswordForm();
  startSessions();
  await startSignedInPage();
}

void start();
