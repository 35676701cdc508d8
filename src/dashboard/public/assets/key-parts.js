// Pieces of a key's display shared by the list, its details and the rotation: id, status, callers, recent use.

import { describeUserAgent, plural, timeElement } from './format.js';
import { alertBox, copyText, h, icon, toast } from './ui.js';
import { $, IN_RECENT_WINDOW, keyLabelText, keyTitle, recentCallers, recentlyUsed } from './keys-page-state.js';

export function copyIdButton(key) {
  return h(
    'button',
    {
      class: 'icon-button small',
      type: 'button',
      title: `Copy key id ${key.id}`,
      'aria-label': `Copy the key id of ${keyLabelText(key)}`,
      'data-copy-id': key.id,
      onclick: async () => {
        toast(
          (await copyText(key.id)) ? `Key id ${key.id} copied.` : `Copying is blocked here. The key id is ${key.id}.`,
        );
      },
    },
    icon('copy'),
  );
}

export function statusBadge(key) {
  if (key.status === 'revoked') {
    return [
      h('span', { class: 'badge revoked' }, 'Revoked'),
      h('span', { class: 'cell-sub' }, timeElement(key.revokedAt)),
    ];
  }
  if (key.status === 'expired') {
    return [
      h('span', { class: 'badge expired' }, 'Expired'),
      h('span', { class: 'cell-sub' }, timeElement(key.expiresAt)),
    ];
  }
  // One child, so that a narrow cell wraps the words rather than squeezing them apart.
  if (key.expiresAt)
    return h('span', { class: 'badge expiring' }, h('span', {}, 'Expires ', timeElement(key.expiresAt)));
  return h('span', { class: 'badge active' }, 'Active');
}

/** Within this much of its expiry an active key is flagged, as the `key.expiring` webhook's 7-day notice. */
const EXPIRY_WARNING_MS = 7 * 24 * 3600 * 1000;

/**
 * Under the "Expires in 3 days" badge of a key close to its expiry: what to do before then. A key with an
 * expiry cannot be rotated, so the advice is a replacement (or moving to the one its rotation generated).
 */
export function expiryWarning(key, replacement, now = Date.now()) {
  if (key.status !== 'active' || !key.expiresAt) return null;
  if (Date.parse(key.expiresAt) - now > EXPIRY_WARNING_MS) return null;
  return h(
    'span',
    { class: 'expiry-warning', 'data-expiry-warning': true },
    icon('alert'),
    replacement
      ? `Move your services to ${keyTitle(replacement)} before then.`
      : 'Generate a replacement and move your services to it before then.',
  );
}

export function callerLine(caller) {
  return h(
    'li',
    { title: caller.userAgent ?? '' },
    h('strong', {}, caller.clientAddress),
    ` · ${describeUserAgent(caller.userAgent)} · ${plural(caller.requests, 'request')}, last `,
    timeElement(caller.lastSeenAt),
  );
}

/** "This key was used 40 seconds ago by 2 clients", or when it was last used, or that it never was. */
export function recentUseNotice(key, usage) {
  const lastUsedAt = usage?.lastUsedAt ?? key.lastUsedAt;
  if (!lastUsedAt) return alertBox('info', 'This key has never been used.');
  if (recentlyUsed(lastUsedAt)) {
    const callers = recentCallers(usage);
    const by = callers.length > 0 ? ` by ${plural(callers.length, 'client')}` : '';
    const notice = alertBox(
      'warning',
      [
        h('p', {}, 'This key was used ', timeElement(lastUsedAt), by, '.'),
        'Anything still using it will start getting 401 errors as soon as it is revoked.',
      ],
      { title: `Used ${IN_RECENT_WINDOW}` },
    );
    if (callers.length > 0) $('.alert-body', notice).append(h('ul', { class: 'callers' }, callers.map(callerLine)));
    return notice;
  }
  return alertBox('info', h('p', {}, 'Last used ', timeElement(lastUsedAt), `; no requests ${IN_RECENT_WINDOW}.`));
}
