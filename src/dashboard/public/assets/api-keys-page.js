// Settings → API keys: the list with live traffic, generate, edit access, revoke, and the three-step rotation.
// The page's parts: keys-page-state.js (state and facts about keys), key-polling.js (loading and refreshing),
// key-list.js, key-parts.js, key-dialogs.js (details, rename, access, revoke), key-access.js (scopes, networks and
// metadata), one-time-key.js (a new key, shown once), key-rotation.js and rotation-steps.js.

import { guardSessionEnd, startSignedInPage } from './shell.js';
import { $, state } from './keys-page-state.js';
import { followAddress, submitAccess, submitRename } from './key-dialogs.js';
import { scopeCatalogue } from './key-access.js';
import { render } from './key-list.js';
import { onRefresh, refresh } from './key-polling.js';
import { guardRotationDialog } from './key-rotation.js';
import {
  guardSecretDialog,
  openGenerate,
  revealDialog,
  sessionEndedWhileKeyShown,
  submitGenerate,
} from './one-time-key.js';

async function start() {
  const reveal = revealDialog();
  const closeReveal = guardSecretDialog(reveal, $('[data-reveal-notices]', reveal), () => reveal.close());
  $('[data-reveal-done]', reveal).addEventListener('click', () => closeReveal());
  guardRotationDialog();
  guardSessionEnd(sessionEndedWhileKeyShown);
  onRefresh(() => {
    render();
    state.rotation?.update();
  });
  $('[data-generate]').addEventListener('click', (event) => openGenerate(event.currentTarget));
  $('[data-generate-form]').addEventListener('submit', submitGenerate);
  $('[data-rename-form]').addEventListener('submit', submitRename);
  $('[data-access-form]').addEventListener('submit', submitAccess);
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
  await startSignedInPage();
  // Fetched once, now, so that the generate and access dialogs open without waiting for it.
  void scopeCatalogue();
  await refresh();
  // A key's panel has its own address (#key=<id>): opened on load, and by back and forward.
  followAddress();
  window.addEventListener('popstate', followAddress);
}

void start();
