// The rotation dialog's steps: 1 generate the new key, 2 roll it out while watching traffic, 3 retire the old
// key; then done. Each renders into the Rotation (key-rotation.js) it is given.

import { api } from './api.js';
import { absoluteTime, timeElement } from './format.js';
import { alertBox, errorBox, h, show, toast, whileBusy } from './ui.js';
import { $, GRACE_PERIODS, keyTitle, quoted, rotatedKeyName, state, usedInWindow } from './keys-page-state.js';
import { refresh } from './key-polling.js';
import { holdSecret, keyReveal } from './one-time-key.js';
import { accessLine, accessSentence, isRestricted } from './key-access.js';

/** What the new key's access will be: the old key's, carried over. */
function carriedAccess(old) {
  return h(
    'div',
    { class: 'field access-carry', 'data-rotation-access': true },
    h('span', { class: 'legend' }, 'Access of the new key'),
    isRestricted(old) ? accessLine(old, null) : h('p', { class: 'access-full' }, accessSentence(old)),
    h(
      'p',
      { class: 'hint' },
      `The new key keeps the access of ${keyTitle(old)}: its scopes, allowed networks and metadata. To change it, use Edit access once the new key is generated.`,
    ),
  );
}

export function renderGenerate(rotation) {
  const old = rotation.oldKey;
  const grace = h(
    'select',
    { id: 'rotate-grace', disabled: true },
    GRACE_PERIODS.map(([seconds, label]) => h('option', { value: seconds, selected: seconds === 86400 }, label)),
  );
  const choice = (value, title, text, checked) =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'retire', value, checked }),
      h('span', {}, h('span', { class: 'choice-title' }, title), h('span', { class: 'choice-text' }, text)),
    );
  const form = h(
    'form',
    { novalidate: true, id: 'rotate-form' },
    h(
      'p',
      { class: 'step-lead' },
      'keyward generates a second key for this account. Both keys work at the same time, so your services keep running while you switch them to the new one.',
    ),
    carriedAccess(old),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'rotate-name' }, 'Name of the new key'),
      h('input', {
        id: 'rotate-name',
        type: 'text',
        maxlength: 100,
        placeholder: rotatedKeyName(old.name),
        'aria-describedby': 'rotate-name-hint',
      }),
      h('p', { class: 'hint', id: 'rotate-name-hint' }, `Optional. Left empty: ${quoted(rotatedKeyName(old.name))}.`),
    ),
    h(
      'fieldset',
      {},
      h('legend', { class: 'legend' }, `When should ${keyTitle(old)} stop working?`),
      choice(
        'manual',
        'When I revoke it (recommended)',
        'Both keys work until you revoke the old one in step 3, once this page shows it no longer receives traffic.',
        true,
      ),
      choice(
        'schedule',
        'Automatically, after a grace period',
        'The old key expires on its own, even if nobody comes back to revoke it. keyward can only schedule this now, as it generates the new key; you can still revoke earlier.',
        false,
      ),
      h('div', { class: 'inline-select' }, h('label', { for: 'rotate-grace' }, 'Grace period'), grace),
    ),
  );
  form.addEventListener('change', () => {
    grace.disabled = form.elements.retire.value !== 'schedule';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void generate();
  });
  show(rotation.content, form);

  const submit = rotation.button('Generate new key', { type: 'submit', form: 'rotate-form' });
  const generate = () =>
    whileBusy(submit, 'Generating…', async () => {
      const name = $('#rotate-name').value.trim();
      const body = name ? { name } : {};
      if (form.elements.retire.value === 'schedule') body.expireOldKeyInSeconds = Number(grace.value);
      try {
        const rotated = await api('POST', `/v1/keys/${encodeURIComponent(old.id)}/rotate`, body);
        rotation.oldKey = rotated.oldKey;
        rotation.newKey = rotated.key;
        rotation.apiKey = rotated.apiKey;
        await refresh();
        rotation.go(2);
      } catch (error) {
        show(rotation.alert, errorBox(error, 'No key was generated'));
      }
    });
  show(
    rotation.footer,
    rotation.button('Cancel', { class: 'button secondary', 'data-close': true }, () => rotation.dialog.close()),
    submit,
  );
  rotation.focusTarget = $('#rotate-name', rotation.content);
}

export function renderRollOut(rotation) {
  const parts = [
    h(
      'p',
      { class: 'step-lead' },
      `Deploy the new key ${keyTitle(rotation.newKey)} everywhere the old key ${keyTitle(rotation.oldKey)} is used. This page watches both keys: once the old key gets no more requests, continue.`,
    ),
  ];
  if (rotation.apiKey) {
    // Held until the dialog closes: going to step 3 and back shows the same key again.
    rotation.secret ??= holdSecret(rotation.alert);
    parts.push(keyReveal(rotation.apiKey, rotation.newKey));
    rotation.focusTarget = $('[data-copy]', parts[parts.length - 1]);
  } else {
    parts.push(
      alertBox(
        'info',
        'The new key was shown once, when it was generated. If it was not saved, revoke it and rotate again.',
      ),
    );
  }
  rotation.panel = h('div', { class: 'traffic-panel' });
  rotation.note = h('p', { class: 'poll-note' });
  parts.push(h('h3', { class: 'section-title' }, 'Live traffic'), rotation.panel, rotation.note, rotation.live);
  show(rotation.content, null);
  rotation.content.append(...parts);
  const next = rotation.button('Continue to step 3', {}, () => rotation.go(3));
  show(
    rotation.footer,
    rotation.button('Close', { class: 'button secondary spacer' }, () => rotation.close()),
    next,
  );
  if (!rotation.apiKey) rotation.focusTarget = next;
  rotation.update();
}

export function renderRetire(rotation) {
  const old = rotation.oldKey;
  show(rotation.content, null);
  rotation.panel = h('div', { class: 'traffic-panel' });
  rotation.note = h('p', { class: 'poll-note' });
  rotation.usageNotice = h('div');
  const revoke = () =>
    whileBusy(revokeNow, 'Revoking…', async () => {
      try {
        await api('DELETE', `/v1/keys/${encodeURIComponent(old.id)}`);
        await refresh();
        rotation.go('done');
      } catch (error) {
        show(rotation.alert, errorBox(error, 'The old key was not revoked'));
      }
    });
  const revokeNow = rotation.button(
    old.expiresAt ? 'Revoke old key now' : 'Revoke old key',
    { class: 'button danger', 'data-revoke-old': true },
    () => {
      rotation.sync();
      // Still in use: a second, explicit confirmation, its safe answer focused.
      if (usedInWindow(rotation.oldKey, state.usage.get(rotation.oldKey.id))) rotation.confirmRevoke(revoke, revokeNow);
      else void revoke();
    },
  );
  if (old.expiresAt) {
    rotation.content.append(
      alertBox('info', [
        h(
          'p',
          {},
          `${quoted(old.name)} stops working automatically `,
          timeElement(old.expiresAt),
          ` (${absoluteTime(old.expiresAt)}). There is nothing else to do.`,
        ),
        'If every service already uses the new key, you can revoke the old one now instead. Revocation is immediate.',
      ]),
    );
  } else {
    rotation.content.append(
      h(
        'p',
        { class: 'step-lead' },
        'Revoke the old key once your services use the new one. Revocation is immediate: from that moment, any request still using ',
        h('strong', {}, old.name),
        ' fails with 401.',
      ),
      h(
        'p',
        { class: 'muted' },
        'Not ready yet? Keep both keys: the banner on the API keys page brings you back here. (A grace period after which the old key expires by itself can only be chosen in step 1, as the new key is generated.)',
      ),
    );
  }
  rotation.content.append(rotation.usageNotice, rotation.panel, rotation.note, rotation.live);
  // The safe choice has the focus: Enter alone never revokes.
  const keep = old.expiresAt
    ? rotation.button('Finish', { class: 'button secondary' }, () => rotation.close())
    : rotation.button('Keep both keys for now', { class: 'button secondary' }, () => {
        rotation.close();
        if (!rotation.dialog.open) toast('Both keys stay active. Finish the rotation from the banner on this page.');
      });
  show(
    rotation.footer,
    rotation.button('Back', { class: 'button secondary spacer' }, () => rotation.go(2)),
    keep,
    revokeNow,
  );
  rotation.focusTarget = keep;
  rotation.update();
}

export function renderDone(rotation) {
  rotation.rejectedNotice = h('div', { 'data-rejected-calls': true });
  show(
    rotation.content,
    alertBox(
      'success',
      `${keyTitle(rotation.oldKey)} is revoked and no longer accepted anywhere. ${keyTitle(rotation.newKey)} is your active key.`,
      { title: 'Rotation complete', role: 'status' },
    ),
    rotation.rejectedNotice,
  );
  const done = rotation.button('Done', {}, () => rotation.dialog.close());
  show(rotation.footer, done);
  rotation.focusTarget = done;
  rotation.update();
}
