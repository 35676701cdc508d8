// The list of keys: active ones with live traffic and their actions, ended ones, the limit and a rotation's banner.

import { describeUserAgent, formatNumber, plural, relativeTime, timeElement } from './format.js';
import { leakNote, renderLeakBanners } from './leaked-keys.js';
import { recentRequests, sparkline } from './sparkline.js';
import { alertBox, h, icon, show } from './ui.js';
import { $, isActive, keyLabelText, keyTitle, rejectedLastHour, state } from './keys-page-state.js';
import { openAccess, openDetails, openRename, openRevoke } from './key-dialogs.js';
import { accessLine } from './key-access.js';
import { keyRateLimitLine, renderLimits } from './rate-limits.js';
import { copyIdButton, expiryWarning, statusBadge } from './key-parts.js';
import { openRotation } from './key-rotation.js';
import { curlBlock, KEY_PLACEHOLDER, openGenerate } from './one-time-key.js';

/** "Edit" under an active key's name, beside its access: opens the access dialog. */
function accessButton(key) {
  return h(
    'button',
    {
      class: 'link-button access-edit',
      type: 'button',
      'aria-label': `Edit access of ${keyLabelText(key)}`,
      'data-focus-id': `access:${key.id}`,
      onclick: (event) => openAccess(key, event.currentTarget),
    },
    'Edit access',
  );
}

function keyLabel(key) {
  return [
    h(
      'button',
      {
        class: 'key-name link-button',
        type: 'button',
        title: key.name,
        'aria-label': `Details of ${keyLabelText(key)}`,
        'data-focus-id': `details:${key.id}`,
        onclick: (event) => openDetails(key, event.currentTarget),
      },
      key.name,
    ),
    h('div', { class: 'key-meta' }, h('code', { class: 'key-hint' }, key.hint), copyIdButton(key)),
    accessLine(key, isActive(key) ? accessButton(key) : null),
    isActive(key) ? keyRateLimitLine(key) : null,
  ];
}

/** "10.0.0.7 · curl/8.5.0 (+1)": who called with the key in the last hour, from the list itself. */
function callersLine(key) {
  const callers = state.usage.get(key.id)?.callers ?? [];
  if (callers.length === 0) return null;
  const [latest, ...others] = callers;
  const text = `${latest.clientAddress} · ${describeUserAgent(latest.userAgent)}`;
  const all = callers.map((caller) => `${caller.clientAddress} · ${caller.userAgent || 'no user agent'}`).join('\n');
  return h(
    'span',
    { class: 'cell-sub callers-line', title: all, 'data-callers': true },
    text,
    others.length > 0 ? ` (+${others.length})` : '',
  );
}

/** "every 10 s": how often usage counts reach the list (the server's KEYWARD_USAGE_FLUSH_MS), for the lag note. */
export function usageLag() {
  const seconds = Math.round(state.usageFlushIntervalMs / 1000);
  return seconds <= 1 ? 'every second' : `every ${seconds} s`;
}

function lastUsed(key) {
  // Usage is counted by each instance and written every flush interval: a key just called still reads
  // "Never" until then, so the lag is said where the count is.
  if (!key.lastUsedAt) {
    return h(
      'div',
      {},
      h('span', { class: 'faint' }, 'Never'),
      h('span', { class: 'cell-sub usage-lag', 'data-usage-lag': true }, `Counts update ${usageLag()}`),
    );
  }
  return h('div', {}, timeElement(key.lastUsedAt), callersLine(key));
}

function created(key) {
  return [
    timeElement(key.createdAt),
    key.createdBy ? h('span', { class: 'cell-sub truncate', title: key.createdBy }, `by ${key.createdBy}`) : null,
  ];
}

function trafficCell(key) {
  const usage = state.usage.get(key.id);
  if (!usage) return h('span', { class: 'faint' }, '—');
  const total = recentRequests(usage.minutes, 60);
  const label = `${plural(total, 'request')} with ${keyTitle(key)} in the last 60 minutes`;
  return h(
    'div',
    { class: 'traffic' },
    sparkline(usage.minutes, { label }),
    h('span', { class: 'traffic-total', 'aria-hidden': 'true' }, formatNumber(total)),
  );
}

/** A row's icon button ("Rename", "Revoke"), named for its key, that opens `open(key, button)`. */
function keyIconButton(key, verb, className, iconName, open) {
  return h(
    'button',
    {
      class: className,
      type: 'button',
      title: `${verb} key`,
      'aria-label': `${verb} ${keyLabelText(key)}`,
      'data-focus-id': `${verb.toLowerCase()}:${key.id}`,
      onclick: (event) => open(key, event.currentTarget),
    },
    icon(iconName),
  );
}

const shortTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});

/**
 * Why Rotate is disabled or absent, said beside it: a key whose expiry is scheduled cannot be rotated (the
 * server answers 409 rotation_pending), and a rotation needs a free slot.
 */
function rotateReason(key, full, replacement) {
  let text;
  if (key.expiresAt) {
    const when = shortTime.format(new Date(key.expiresAt));
    text = replacement
      ? `Rotation is already under way: this key expires on ${when}.`
      : `No rotation: this key expires on ${when}. Generate a new key to replace it.`;
  } else if (full) {
    text = `${state.maxActiveKeys} keys are active: revoke one to rotate.`;
  } else {
    return null;
  }
  return h('p', { class: 'action-reason', id: `rotate-reason-${key.id}`, 'data-rotate-reason': true }, text);
}

function activeRow(key, full, active) {
  const replacement = active.find((other) => other.replacesKeyId === key.id);
  const rotatable = !key.expiresAt;
  const reason = rotateReason(key, full, replacement);
  const rotate = rotatable
    ? h(
        'button',
        {
          class: 'button secondary small',
          type: 'button',
          disabled: full,
          'aria-label': `Rotate ${keyLabelText(key)}`,
          'aria-describedby': reason ? reason.id : null,
          'data-focus-id': `rotate:${key.id}`,
          onclick: (event) => openRotation({ oldKey: key, step: 1 }, event.currentTarget),
        },
        icon('rotate'),
        'Rotate',
      )
    : null;
  const rename = keyIconButton(key, 'Rename', 'icon-button', 'pencil', openRename);
  const revoke = keyIconButton(key, 'Revoke', 'icon-button danger', 'trash', openRevoke);
  return h(
    'tr',
    { 'data-key-id': key.id },
    h('td', { class: 'primary-cell' }, keyLabel(key)),
    h('td', { 'data-label': 'Created' }, h('div', {}, created(key))),
    h('td', { 'data-label': 'Last used' }, lastUsed(key)),
    h(
      'td',
      { 'data-label': 'Requests (24 h)', class: 'numeric', title: `Counts update ${usageLag()}` },
      formatNumber(key.requestsLast24h),
    ),
    h('td', { 'data-label': 'Last 60 min' }, trafficCell(key)),
    h('td', { 'data-label': 'Status' }, h('div', {}, statusBadge(key), expiryWarning(key, replacement))),
    h('td', { class: 'actions-cell' }, h('div', { class: 'actions' }, rotate, rename, revoke), reason),
  );
}

/** " by 10.0.0.7 curl 8.5 and 2 other clients": who sent the refused calls, latest first. */
function rejectedCallersText(callers) {
  if (callers.length === 0) return '';
  const [latest, ...others] = callers;
  const more = others.length > 0 ? ` and ${plural(others.length, 'other client')}` : '';
  return ` by ${latest.clientAddress} ${describeUserAgent(latest.userAgent)}${more}`;
}

/** "Still called 230 times in the last hour by 10.0.0.7 curl 8.5": a service the rotation forgot. */
function stillCalledNote(key) {
  const total = rejectedLastHour(key);
  if (total === 0) return null;
  const { callers } = state.usage.get(key.id).rejected;
  return h(
    'span',
    { class: 'still-called', 'data-still-called': true },
    icon('alert'),
    `Still called: ${plural(total, 'request')} in the last hour${rejectedCallersText(callers)}, each refused.`,
  );
}

function endedRow(key) {
  return h(
    'tr',
    { class: 'ended', 'data-key-id': key.id },
    h('td', { class: 'primary-cell' }, keyLabel(key)),
    h('td', { 'data-label': 'Created' }, h('div', {}, created(key))),
    h('td', { 'data-label': 'Last used' }, lastUsed(key)),
    h('td', { 'data-label': 'Requests (24 h)', class: 'numeric' }, formatNumber(key.requestsLast24h)),
    // Across the traffic, status and actions columns of the active keys' table, so that the columns line up.
    h(
      'td',
      { 'data-label': 'Status', colspan: 3 },
      h('div', {}, statusBadge(key), leakNote(key), stillCalledNote(key)),
    ),
  );
}

/**
 * A rotation in progress: an active key generated to replace another active key. Two keys generated on
 * their own (production and staging) are not a rotation, however old each is.
 */
function rotationPair(active) {
  for (const newKey of active) {
    const oldKey = active.find((key) => key.id === newKey.replacesKeyId);
    if (oldKey) return { oldKey, newKey };
  }
  return null;
}

function renderLimit(active) {
  const full = active.length >= state.maxActiveKeys;
  const button = $('[data-generate]');
  const note = $('[data-limit-note]');
  button.disabled = full;
  note.hidden = false;
  // One line either way, so that the button never moves; the row of a key that expires says when.
  note.textContent = full
    ? `${active.length} of ${state.maxActiveKeys} keys active: revoke one to generate another.`
    : `${active.length} of ${state.maxActiveKeys} active keys in use.`;
}

function renderRotationBanner(active) {
  const container = $('[data-rotation-banner]');
  const pair = rotationPair(active);
  if (!pair) return show(container, null);
  const { oldKey, newKey } = pair;
  const text = oldKey.expiresAt
    ? `${keyTitle(oldKey)} stops working ${relativeTime(oldKey.expiresAt)}. Make sure your services use its replacement ${keyTitle(newKey)} by then.`
    : `${keyTitle(newKey)} replaces ${keyTitle(oldKey)}. Move your services to it, check that ${keyTitle(oldKey)} no longer receives traffic, then revoke it.`;
  const banner = alertBox('info', text, { title: 'A rotation is in progress' });
  banner.classList.add('rotation-banner');
  banner.append(
    h(
      'div',
      { class: 'alert-actions' },
      h(
        'button',
        {
          class: 'button secondary small',
          type: 'button',
          'data-focus-id': 'resume-rotation',
          onclick: (event) => openRotation({ ...pair, step: 2 }, event.currentTarget),
        },
        'Check traffic and finish',
      ),
    ),
  );
  show(container, banner);
}

export function render() {
  const focusId = document.activeElement?.dataset?.focusId;
  const active = state.keys.filter(isActive);
  const ended = state.keys.filter((key) => !isActive(key));
  const full = active.length >= state.maxActiveKeys;

  renderLimit(active);
  renderLimits($('[data-limits]'), state.limits);
  renderLeakBanners($('[data-leak-banner]'), state.keys, { onGenerate: openGenerate });
  renderRotationBanner(active);
  show(
    $('[data-active-keys]'),
    active.length > 0
      ? active.map((key) => activeRow(key, full, active))
      : h(
          'tr',
          {},
          h(
            'td',
            { colspan: 7, class: 'empty-state', 'data-empty-state': true },
            h('strong', {}, 'No active keys'),
            h(
              'p',
              {},
              'Generate a key, then check that it works: replace ',
              h('code', {}, KEY_PLACEHOLDER),
              ' with the key and paste both lines in a terminal.',
            ),
            curlBlock('empty-curl'),
            h(
              'p',
              { class: 'hint' },
              'Every endpoint, with examples: ',
              h('a', { href: '/docs' }, 'the API reference'),
              '.',
            ),
          ),
        ),
  );

  $('[data-ended-section]').hidden = ended.length === 0;
  $('[data-ended-summary]').textContent = `Revoked and expired keys (${ended.length})`;
  show($('[data-ended-keys]'), ended.map(endedRow));

  if (focusId) document.querySelector(`[data-focus-id="${CSS.escape(focusId)}"]`)?.focus();
}
