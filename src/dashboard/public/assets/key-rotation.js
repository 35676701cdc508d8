// Rotate: the dialog that generates the new key, watches both keys' traffic while it is rolled out, and
// retires the old key (its steps: rotation-steps.js).

import { plural, timeElement } from './format.js';
import { sparkline, recentRequests } from './sparkline.js';
import { alertBox, h, openModal, show } from './ui.js';
import {
  $,
  IN_RECENT_WINDOW,
  keyTitle,
  RECENT_MINUTES,
  recentCallers,
  rejectedLastHour,
  ROTATION_REFRESH_MS,
  state,
  usedInWindow,
} from './keys-page-state.js';
import { callerLine, recentUseNotice, statusBadge } from './key-parts.js';
import { scheduleRefresh } from './key-polling.js';
import { guardSecretDialog, releaseSecret } from './one-time-key.js';
import { renderDone, renderGenerate, renderRetire, renderRollOut } from './rotation-steps.js';

/** Closing the rotation dialog asks first while it shows a key not yet copied (set by guardRotationDialog). */
let closeRotation = () => {};

export function guardRotationDialog() {
  const dialog = $('[data-rotate-dialog]');
  closeRotation = guardSecretDialog(dialog, $('[data-dialog-alert]', dialog), () => dialog.close());
}

function trafficVerdict(key, usage, role) {
  const lastUsedAt = usage?.lastUsedAt ?? key.lastUsedAt;
  const usedRecently = usedInWindow(key, usage);
  if (role === 'old') {
    if (key.status !== 'active') return { kind: 'quiet', text: 'Revoked: no longer accepted' };
    if (usedRecently) return { kind: 'busy', text: 'Still receiving traffic' };
    return { kind: 'quiet', text: lastUsedAt ? `No traffic ${IN_RECENT_WINDOW}` : 'Never used' };
  }
  const recent = usage ? recentRequests(usage.minutes, RECENT_MINUTES) : 0;
  if (recent > 0 || usedRecently) return { kind: 'quiet', text: 'Receiving traffic' };
  return { kind: '', text: 'No requests yet' };
}

function trafficCard(role, key, usage) {
  const verdict = trafficVerdict(key, usage, role);
  const recent = usage ? recentRequests(usage.minutes, RECENT_MINUTES) : 0;
  const lastUsedAt = usage?.lastUsedAt ?? key.lastUsedAt;
  return h(
    'div',
    { class: 'traffic-key', 'data-traffic': role },
    h(
      'div',
      { class: 'traffic-key-head' },
      h(
        'div',
        {},
        h('div', { class: 'traffic-key-role' }, role === 'old' ? 'Old key' : 'New key'),
        h('span', { class: 'key-name' }, key.name),
        ' ',
        h('code', { class: 'key-hint' }, key.hint),
      ),
      statusBadge(key),
    ),
    h(
      'div',
      { class: 'traffic-key-body' },
      usage
        ? sparkline(usage.minutes, {
            label: `Requests per minute with ${keyTitle(key)} over the last 60 minutes`,
            variant: role === 'old' ? 'old' : '',
          })
        : null,
      h(
        'div',
        {},
        h('p', { class: `traffic-verdict ${verdict.kind}`, 'data-verdict': true }, verdict.text),
        h(
          'p',
          { class: 'cell-sub', 'data-recent': true },
          `${plural(recent, 'request')} ${IN_RECENT_WINDOW} · `,
          lastUsedAt ? h('span', {}, 'last used ', timeElement(lastUsedAt)) : 'never used',
        ),
      ),
    ),
  );
}

class Rotation {
  constructor({ oldKey, newKey = null, apiKey = null, step }) {
    this.oldKey = oldKey;
    this.newKey = newKey;
    this.apiKey = apiKey;
    this.step = step;
    this.dialog = $('[data-rotate-dialog]');
    this.content = $('[data-rotate-content]', this.dialog);
    this.footer = $('[data-rotate-footer]', this.dialog);
    this.alert = $('[data-dialog-alert]', this.dialog);
    this.live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
    this.lastVerdict = '';
    this.secret = null;
    this.close = () => closeRotation();
  }

  /** Latest versions of the two keys from the page's state (they change as the list refreshes). */
  sync() {
    const find = (key) => (key ? (state.keys.find((candidate) => candidate.id === key.id) ?? key) : key);
    this.oldKey = find(this.oldKey);
    this.newKey = find(this.newKey);
  }

  button(label, attributes, onclick) {
    return h('button', { type: 'button', class: 'button', ...attributes, onclick }, label);
  }

  go(step) {
    this.step = step;
    show(this.alert, null);
    this.sync();
    $('#rotate-title').textContent = `Rotate ${keyTitle(this.oldKey)}`;
    for (const marker of this.dialog.querySelectorAll('[data-step-marker]')) {
      const index = Number(marker.dataset.stepMarker);
      const current = step === 'done' ? 4 : step;
      marker.classList.toggle('done', index < current);
      if (index === current) marker.setAttribute('aria-current', 'step');
      else marker.removeAttribute('aria-current');
    }
    if (step === 1) renderGenerate(this);
    else if (step === 2) renderRollOut(this);
    else if (step === 3) renderRetire(this);
    else renderDone(this);
    if (this.dialog.open) this.focusTarget?.focus();
    scheduleRefresh();
  }

  /**
   * The old key was used within the window: ask again, in the footer where Revoke was clicked, with the safe
   * answer focused. Who used it is the step's one list of clients, above (recentUseNotice); the footer holds
   * one question and its two answers instead of Back, Keep and Revoke.
   */
  confirmRevoke(revoke, revokeNow) {
    const usage = state.usage.get(this.oldKey.id);
    const callers = recentCallers(usage);
    const before = [...this.footer.childNodes];
    const cancel = h(
      'button',
      { class: 'button secondary', type: 'button', 'data-cancel-revoke': true },
      "Don't revoke",
    );
    const confirm = h('button', { class: 'button danger', type: 'button' }, 'Revoke anyway');
    cancel.addEventListener('click', () => {
      show(this.footer, ...before);
      revokeNow.focus();
    });
    confirm.addEventListener('click', () => void revoke());
    show(
      this.footer,
      h(
        'p',
        { class: 'footer-question spacer', role: 'alert', 'data-revoke-question': true },
        h('strong', {}, 'Revoke a key that is still in use?'),
        ' ',
        callers.length > 0
          ? `The ${plural(callers.length, 'client')} listed above will get 401.`
          : 'Requests still using it will get 401.',
      ),
      cancel,
      confirm,
    );
    cancel.focus();
  }
  /** After the revoke: whether anything still calls with the old key, and who. */
  updateRejectedCalls() {
    const total = rejectedLastHour(this.oldKey);
    if (total === 0) {
      show(
        this.rejectedNotice,
        h(
          'p',
          { class: 'muted' },
          `No requests with ${keyTitle(this.oldKey)} since it was revoked. This keeps watching while the dialog is open; counts can lag a few seconds behind.`,
        ),
      );
      return;
    }
    const { rejected } = state.usage.get(this.oldKey.id);
    const notice = alertBox(
      'warning',
      [
        h(
          'p',
          {},
          `${plural(total, 'request')} with the revoked key in the last hour, the latest `,
          timeElement(rejected.lastRejectedAt),
          '. Each was refused with 401: move these services to the new key.',
        ),
        h('ul', { class: 'callers' }, rejected.callers.map(callerLine)),
      ],
      { title: 'Still called' },
    );
    show(this.rejectedNotice, notice);
  }

  /** Refreshes the live traffic (called after every list refresh). */
  update() {
    if (this.step === 'done') return this.updateRejectedCalls();
    if (this.step !== 2 && this.step !== 3) return;
    this.sync();
    const oldUsage = state.usage.get(this.oldKey.id);
    const newUsage = state.usage.get(this.newKey.id);
    show(this.panel, null);
    this.panel.append(trafficCard('old', this.oldKey, oldUsage), trafficCard('new', this.newKey, newUsage));
    show(
      this.note,
      h(
        'span',
        {},
        `Updated ${new Date().toLocaleTimeString()}; refreshes every ${ROTATION_REFRESH_MS / 1000} seconds. Counts can lag a few seconds behind.`,
      ),
    );
    if (this.step === 3 && !this.oldKey.expiresAt && this.usageNotice) {
      show(this.usageNotice, recentUseNotice(this.oldKey, oldUsage));
    }
    const verdict = trafficVerdict(this.oldKey, oldUsage, 'old').text;
    if (verdict !== this.lastVerdict) {
      this.lastVerdict = verdict;
      this.live.textContent = `Old key: ${verdict}.`;
    }
  }
}

export function openRotation(options, opener) {
  const rotation = new Rotation(options);
  state.rotation = rotation;
  // Render before opening, so the dialog opens on this rotation's controls, never a previous one's.
  rotation.go(options.step);
  openModal(rotation.dialog, {
    opener,
    onClose: () => {
      if (state.rotation === rotation) state.rotation = null;
      // The secret leaves the page with the dialog.
      show(rotation.content);
      show(rotation.footer);
      show(rotation.alert);
      if (rotation.secret) releaseSecret();
      scheduleRefresh();
    },
  });
  rotation.focusTarget?.focus();
}
