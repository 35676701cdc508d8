// Settings → API keys: the list with live traffic, generate, revoke, and the three-step rotation.

import { api } from './api.js';
import { absoluteTime, describeUserAgent, formatNumber, plural, relativeTime, timeElement } from './format.js';
import { guardSessionEnd, pageAlert, showPageError, signInUrl, startSignedInPage } from './shell.js';
import { leakNote, renderLeakBanners } from './leaked-keys.js';
import { recentRequests, sparkline } from './sparkline.js';
import { alertBox, copyText, errorBox, h, icon, openModal, secretField, show, toast, whileBusy } from './ui.js';

/** How often the list refreshes, and how often while a rotation is being watched. */
const REFRESH_MS = 10_000;
const ROTATION_REFRESH_MS = 3_000;
/**
 * One window for "recently used" everywhere: the rotation's verdicts and counts, the warnings before a
 * revocation, and when revoking asks for a second confirmation.
 */
const RECENT_MINUTES = 15;
const RECENT_MS = RECENT_MINUTES * 60_000;
const IN_RECENT_WINDOW = `in the last ${RECENT_MINUTES} minutes`;
/** Ended keys are watched for refused calls this long (the usage API's callers cover the last hour). */
const REJECTED_WATCH_MS = 60 * 60 * 1000;
const GRACE_PERIODS = [
  [3600, '1 hour'],
  [6 * 3600, '6 hours'],
  [24 * 3600, '24 hours'],
  [7 * 24 * 3600, '7 days'],
  [30 * 24 * 3600, '30 days'],
];

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  keys: [],
  maxActiveKeys: 2,
  /** keyId → GET /v1/keys/{id}/usage */
  usage: new Map(),
  loaded: false,
  /** The rotation dialog while open. */
  rotation: null,
};

const isActive = (key) => key.status === 'active';
const quoted = (name) => `“${name}”`;
/** "…a1b2": the end of the hint, enough to tell two keys of the same name apart. */
const shortHint = (key) => `…${key.hint.slice(-4)}`;
const hasTwin = (key) => state.keys.some((other) => other.id !== key.id && other.name === key.name);
/** “production”, or “production” (…a1b2) when another key has the same name: for messages and dialogs. */
const keyTitle = (key) => (hasTwin(key) ? `${quoted(key.name)} (${shortHint(key)})` : quoted(key.name));
/** production, or production …a1b2: for accessible names of controls. */
const keyLabelText = (key) => (hasTwin(key) ? `${key.name} ${shortHint(key)}` : key.name);
const recentlyUsed = (lastUsedAt) => lastUsedAt !== null && Date.now() - Date.parse(lastUsedAt) < RECENT_MS;

/** The one-time key while it is on screen (a dialog), and whether it was copied. */
let secret = null;

function holdSecret(noticeArea) {
  secret = { copied: false, sessionEnded: false, noticeArea };
  return secret;
}

/** The dialog showing the key closed: the key is gone; a session that ended meanwhile now goes to sign in. */
function releaseSecret() {
  const ended = secret?.sessionEnded;
  secret = null;
  if (ended) location.assign(signInUrl('expired'));
}

const secretAtRisk = () => secret !== null && !secret.copied;

window.addEventListener('beforeunload', (event) => {
  if (secretAtRisk()) event.preventDefault();
});

/**
 * Escape (or Close) on a dialog that shows a key not yet copied asks first; Escape never discards the key
 * (pressed again, it goes back to the key). `close` discards.
 */
function guardSecretDialog(dialog, area, close) {
  const attempt = () => {
    if (!secretAtRisk()) return close();
    if ($('[data-keep-key]', area)) return backToKey(dialog, area);
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
    attempt();
  });
  dialog.addEventListener('cancel', (event) => {
    if (!secretAtRisk()) return;
    event.preventDefault();
    if (!escapeHandled) attempt();
  });
  return attempt;
}

/** The server's default name for a rotation's new key (src/services/keys.ts rotatedKeyName), to show it. */
function rotatedKeyName(oldName) {
  const suffix = ` (rotated ${new Date().toISOString().slice(0, 10)})`;
  const base = oldName.replace(/(?:\s*\(rotated(?: \d{4}-\d{2}-\d{2})?\))+$/, '').trim() || 'API key';
  return base.slice(0, 100 - suffix.length).trimEnd() + suffix;
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
function sessionEndedWhileKeyShown() {
  if (secret === null) return false;
  if (!secret.sessionEnded) {
    secret.sessionEnded = true;
    clearTimeout(refreshTimer);
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

function usageUrl(keyId) {
  return `/v1/keys/${encodeURIComponent(keyId)}/usage?minutes=60&hours=1`;
}

// ---------- Loading and polling ----------

let refreshTimer;
let refreshing = null;
let queued = null;

/** A revoked or expired key that something called in the last hour (and was refused). */
const recentlyRejected = (key) =>
  key.lastRejectedAt !== null && Date.now() - Date.parse(key.lastRejectedAt) < REJECTED_WATCH_MS;

async function loadKeys() {
  const list = await api('GET', '/v1/keys');
  // Usage for active keys, for ended keys still being called, and for the key a rotation just retired
  // (its rejected calls show in the dialog before the first flush sets lastRejectedAt).
  const watched = list.keys.filter(
    (key) => isActive(key) || recentlyRejected(key) || key.id === state.rotation?.oldKey.id,
  );
  const reports = await Promise.all(watched.map((key) => api('GET', usageUrl(key.id)).catch(() => null)));
  state.keys = list.keys;
  state.maxActiveKeys = list.maxActiveKeys;
  state.usage = new Map(watched.flatMap((key, index) => (reports[index] ? [[key.id, reports[index]]] : [])));
  state.loaded = true;
}

/** Reloads keys and usage, re-renders, and schedules the next refresh. */
function refresh() {
  // A refresh asked for during another must see the changes made meanwhile: run once more after it.
  if (refreshing) {
    queued ??= refreshing.then(() => {
      queued = null;
      return refresh();
    });
    return queued;
  }
  clearTimeout(refreshTimer);
  refreshing = (async () => {
    try {
      await loadKeys();
      show(pageAlert(), null);
      render();
      state.rotation?.update();
    } catch (error) {
      showPageError(error, state.loaded ? 'Could not refresh the keys' : 'Could not load your keys');
      if (!state.loaded) {
        show($('[data-active-keys]'), h('tr', {}, h('td', { colspan: 7, class: 'empty-state' }, 'Keys unavailable.')));
      }
    } finally {
      refreshing = null;
      scheduleRefresh();
    }
  })();
  return refreshing;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (document.hidden || secret?.sessionEnded) return;
  refreshTimer = setTimeout(refresh, state.rotation ? ROTATION_REFRESH_MS : REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});

// ---------- Rendering the list ----------

function copyIdButton(key) {
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
  ];
}

function statusBadge(key) {
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

/** "10.0.0.7 · curl/8.5.0 (+1)": who called with the key in the last hour, from the list itself. */
function callersLine(key) {
  const callers = state.usage.get(key.id)?.callers ?? [];
  if (callers.length === 0) return null;
  const [latest, ...others] = callers;
  const text = `${latest.clientAddress} · ${describeUserAgent(latest.userAgent)}`;
  const all = callers.map((caller) => `${caller.clientAddress} · ${caller.userAgent || 'no user agent'}`).join('\n');
  return h(
    'span',
    { class: 'cell-sub truncate', title: all, 'data-callers': true },
    text,
    others.length > 0 ? ` (+${others.length})` : '',
  );
}

function lastUsed(key) {
  if (!key.lastUsedAt) return h('span', { class: 'faint' }, 'Never');
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

function activeRow(key, full) {
  const rotatable = !key.expiresAt;
  const rotate = rotatable
    ? h(
        'button',
        {
          class: 'button secondary small',
          type: 'button',
          disabled: full,
          'aria-label': `Rotate ${keyLabelText(key)}`,
          'aria-describedby': full ? 'limit-note' : null,
          'data-focus-id': `rotate:${key.id}`,
          onclick: (event) => openRotation({ oldKey: key, step: 1 }, event.currentTarget),
        },
        icon('rotate'),
        'Rotate',
      )
    : null;
  const rename = h(
    'button',
    {
      class: 'icon-button',
      type: 'button',
      title: 'Rename key',
      'aria-label': `Rename ${keyLabelText(key)}`,
      'data-focus-id': `rename:${key.id}`,
      onclick: (event) => openRename(key, event.currentTarget),
    },
    icon('pencil'),
  );
  const revoke = h(
    'button',
    {
      class: 'icon-button danger',
      type: 'button',
      title: 'Revoke key',
      'aria-label': `Revoke ${keyLabelText(key)}`,
      'data-focus-id': `revoke:${key.id}`,
      onclick: (event) => openRevoke(key, event.currentTarget),
    },
    icon('trash'),
  );
  return h(
    'tr',
    { 'data-key-id': key.id },
    h('td', { class: 'primary-cell' }, keyLabel(key)),
    h('td', { 'data-label': 'Created' }, h('div', {}, created(key))),
    h('td', { 'data-label': 'Last used' }, lastUsed(key)),
    h('td', { 'data-label': 'Requests (24 h)', class: 'numeric' }, formatNumber(key.requestsLast24h)),
    h('td', { 'data-label': 'Last 60 min' }, trafficCell(key)),
    h('td', { 'data-label': 'Status' }, h('div', {}, statusBadge(key))),
    h('td', { class: 'actions-cell' }, h('div', { class: 'actions' }, rotate, rename, revoke)),
  );
}

/** " by 10.0.0.7 curl 8.5 and 2 other clients": who sent the refused calls, latest first. */
function rejectedCallersText(callers) {
  if (callers.length === 0) return '';
  const [latest, ...others] = callers;
  const more = others.length > 0 ? ` and ${plural(others.length, 'other client')}` : '';
  return ` by ${latest.clientAddress} ${describeUserAgent(latest.userAgent)}${more}`;
}

/** Refused calls of a revoked or expired key in the last hour, or 0. */
function rejectedLastHour(key) {
  const rejected = state.usage.get(key.id)?.rejected;
  return rejected ? recentRequests(rejected.minutes, 60) : 0;
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
    `Still called ${plural(total, 'time')} in the last hour${rejectedCallersText(callers)}; each call is refused.`,
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
    h('td', { 'data-label': 'Status' }, h('div', {}, statusBadge(key), leakNote(key), stillCalledNote(key))),
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
  if (!full) {
    note.textContent = `${active.length} of ${state.maxActiveKeys} active keys in use.`;
    return;
  }
  const expiring = active.find((key) => key.expiresAt);
  note.textContent =
    `Generating is disabled: ${state.maxActiveKeys} keys are active, the most an account can have. ` +
    (expiring
      ? `${keyTitle(expiring)} expires ${relativeTime(expiring.expiresAt)}; after that you can generate another, or revoke a key now.`
      : 'Revoke one to generate or rotate another.');
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

function render() {
  const focusId = document.activeElement?.dataset?.focusId;
  const active = state.keys.filter(isActive);
  const ended = state.keys.filter((key) => !isActive(key));
  const full = active.length >= state.maxActiveKeys;

  renderLimit(active);
  renderLeakBanners($('[data-leak-banner]'), state.keys, { onGenerate: openGenerate });
  renderRotationBanner(active);
  show(
    $('[data-active-keys]'),
    active.length > 0
      ? active.map((key) => activeRow(key, full))
      : h(
          'tr',
          {},
          h(
            'td',
            { colspan: 7, class: 'empty-state', 'data-empty-state': true },
            h('strong', {}, 'No active keys'),
            h('p', {}, 'Generate a key, then check that it works:'),
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

// ---------- The key, shown once ----------

/** The same first call everywhere (empty state and the one-time key): check a key with curl. */
function curlSnippet() {
  return `curl ${location.origin}/v1/me \\\n  -H "x-api-key: $KEYWARD_API_KEY"`;
}

function curlBlock(id) {
  return h(
    'div',
    { class: 'snippet' },
    h('pre', { id, 'data-curl': true }, h('code', {}, curlSnippet())),
    h(
      'button',
      {
        class: 'button secondary small',
        type: 'button',
        'aria-label': 'Copy the curl command',
        onclick: async () =>
          toast((await copyText(curlSnippet())) ? 'curl command copied.' : 'Copying is blocked here.'),
      },
      icon('copy'),
      'Copy',
    ),
  );
}

/** The key, once, with Copy. `warningId` names the warning for the dialog's aria-describedby. */
function keyReveal(apiKey, key, { warningId } = {}) {
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
        ' header of every request. Try it (with the key in ',
        h('code', {}, 'KEYWARD_API_KEY'),
        '):',
      ),
      curlBlock(`${inputId}-curl`),
    ),
  );
}

const revealDialog = () => $('[data-reveal-dialog]');
/** Close requests for the two dialogs that can show a key: they ask first while it is not copied. */
let closeReveal;
let closeRotation;

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

function openGenerate(opener) {
  const dialog = $('[data-generate-dialog]');
  const form = $('[data-generate-form]', dialog);
  form.reset();
  show($('[data-dialog-alert]', dialog), null);
  openModal(dialog, { opener });
  $('#generate-name').focus();
}

async function submitGenerate(event) {
  event.preventDefault();
  const dialog = $('[data-generate-dialog]');
  const name = $('#generate-name').value.trim();
  const expiry = Number($('#generate-expiry').value);
  const submit = $('button[type="submit"]', dialog);
  await whileBusy(submit, 'Generating…', async () => {
    try {
      const body = name ? { name } : {};
      if (expiry > 0) body.expiresInSeconds = expiry;
      const created = await api('POST', '/v1/keys', body);
      dialog.close();
      showReveal(created.apiKey, created.key, $('[data-generate]'));
      void refresh();
    } catch (error) {
      show($('[data-dialog-alert]', dialog), errorBox(error));
    }
  });
}

// ---------- One key's page: details, 30 days of traffic, callers, audit events ----------

/** Audit pages read to find a key's events (200 each): enough for any key's history in practice. */
const DETAIL_AUDIT_PAGES = 5;
const AUDIT_LABELS = {
  'key.created': 'Generated',
  'key.rotated': 'Generated by a rotation',
  'key.revoked': 'Revoked',
  'key.expired': 'Expired',
  'key.expiry_scheduled': 'Expiry scheduled',
  'key.renamed': 'Renamed',
};

async function keyAuditEvents(keyId) {
  const events = [];
  let cursor = null;
  for (let page = 0; page < DETAIL_AUDIT_PAGES; page++) {
    const query = new URLSearchParams({ limit: '200' });
    if (cursor) query.set('cursor', cursor);
    const result = await api('GET', `/v1/audit?${query}`);
    events.push(...result.events.filter((event) => event.keyId === keyId || event.details?.replaces === keyId));
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return events;
}

function detailsFacts(key) {
  const fact = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];
  const replaces = key.replacesKeyId ? state.keys.find((other) => other.id === key.replacesKeyId) : null;
  return h(
    'dl',
    { class: 'facts' },
    fact('Key id', h('code', {}, key.id), ' ', copyIdButton(key)),
    fact('Hint', h('code', { class: 'key-hint' }, key.hint)),
    fact('Status', statusBadge(key)),
    fact(
      'Created',
      timeElement(key.createdAt),
      ` (${absoluteTime(key.createdAt)})`,
      key.createdBy ? ` by ${key.createdBy}` : '',
    ),
    key.expiresAt ? fact(key.status === 'active' ? 'Expires' : 'Ended', absoluteTime(key.expiresAt)) : null,
    key.replacesKeyId
      ? fact('Replaces', replaces ? `${keyTitle(replaces)} ` : '', h('code', {}, key.replacesKeyId))
      : null,
    fact('Last used', key.lastUsedAt ? [timeElement(key.lastUsedAt), ` (${absoluteTime(key.lastUsedAt)})`] : 'Never'),
  );
}

function hourlyChart(key, usage) {
  const total = usage.hours.reduce((sum, point) => sum + point.requests, 0);
  const chart = sparkline(usage.hours, {
    label: `${plural(total, 'request')} with ${keyTitle(key)} in the last 30 days, per hour`,
  });
  chart.classList.add('chart-30d');
  return h(
    'div',
    { 'data-chart-30d': true },
    chart,
    h('p', { class: 'cell-sub' }, `${plural(total, 'request')} in the last 30 days, one point per hour.`),
  );
}

async function openDetails(key, opener) {
  const dialog = $('[data-details-dialog]');
  const body = $('[data-details-body]', dialog);
  $('#details-title').textContent = keyTitle(key);
  show(body, detailsFacts(key), h('p', { class: 'muted' }, 'Loading traffic and events…'));
  openModal(dialog, { opener });
  try {
    const [usage, events] = await Promise.all([
      api('GET', `/v1/keys/${encodeURIComponent(key.id)}/usage?minutes=60&hours=720`),
      keyAuditEvents(key.id),
    ]);
    const callers = [...usage.callers, ...usage.rejected.callers];
    show(
      body,
      detailsFacts(key),
      h('h3', { class: 'section-title' }, 'Requests, last 30 days'),
      hourlyChart(key, usage),
      h('h3', { class: 'section-title' }, 'Callers in the last hour'),
      callers.length > 0
        ? h('ul', { class: 'callers', 'data-detail-callers': true }, callers.map(callerLine))
        : h('p', { class: 'muted' }, 'No calls in the last hour.'),
      h('h3', { class: 'section-title' }, 'Events'),
      h(
        'ul',
        { class: 'key-events', 'data-detail-events': true },
        events.map((event) =>
          h(
            'li',
            {},
            h('strong', {}, AUDIT_LABELS[event.action] ?? event.action),
            event.action === 'key.renamed' && event.details?.from ? ` (was “${event.details.from}”)` : '',
            ' · ',
            timeElement(event.at),
            ` (${absoluteTime(event.at)})`,
            event.actor ? ` · ${event.actor}` : ' · keyward (automatic)',
          ),
        ),
      ),
      h('p', { class: 'hint' }, h('a', { href: '/activity' }, 'All activity')),
    );
  } catch (error) {
    show(body, detailsFacts(key), errorBox(error, 'Could not load the traffic and events'));
  }
}

// ---------- Rename ----------

let renaming = null;

function openRename(key, opener) {
  const dialog = $('[data-rename-dialog]');
  renaming = key;
  $('#rename-title').textContent = `Rename ${keyTitle(key)}`;
  show($('[data-dialog-alert]', dialog), null);
  $('#rename-hint').textContent = `Key ${key.hint}. Names need not be unique; the hint tells keys apart.`;
  const input = $('#rename-name');
  input.value = key.name;
  input.removeAttribute('aria-invalid');
  openModal(dialog, { opener });
  input.focus();
  input.select();
}

async function submitRename(event) {
  event.preventDefault();
  const dialog = $('[data-rename-dialog]');
  const input = $('#rename-name');
  const name = input.value.trim();
  if (name === '') {
    input.setAttribute('aria-invalid', 'true');
    show($('[data-dialog-alert]', dialog), alertBox('error', 'Enter a name.', { role: 'alert' }));
    input.focus();
    return;
  }
  const key = renaming;
  const submit = $('button[type="submit"]', dialog);
  await whileBusy(submit, 'Saving…', async () => {
    try {
      await api('PATCH', `/v1/keys/${encodeURIComponent(key.id)}`, { name });
      dialog.close();
      toast(`Renamed to ${quoted(name)}.`);
      await refresh();
    } catch (error) {
      show($('[data-dialog-alert]', dialog), errorBox(error, 'The key was not renamed'));
    }
  });
}

// ---------- Revoke ----------

function callerLine(caller) {
  return h(
    'li',
    { title: caller.userAgent ?? '' },
    h('strong', {}, caller.clientAddress),
    ` · ${describeUserAgent(caller.userAgent)} · ${plural(caller.requests, 'request')}, last `,
    timeElement(caller.lastSeenAt),
  );
}

/** Clients seen with the key within the recent window, latest first. */
const recentCallers = (usage) =>
  (usage?.callers ?? []).filter((caller) => Date.now() - Date.parse(caller.lastSeenAt) < RECENT_MS);

/** "This key was used 40 seconds ago by 2 clients", or when it was last used, or that it never was. */
function recentUseNotice(key, usage) {
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

function openRevoke(key, opener) {
  const dialog = $('[data-revoke-dialog]');
  $('#revoke-title').textContent = `Revoke ${keyTitle(key)}?`;
  show($('[data-dialog-alert]', dialog), null);
  const usageArea = $('[data-revoke-usage]', dialog);
  show(
    usageArea,
    h('p', { class: 'muted' }, h('code', { class: 'key-hint' }, key.hint), ' · checking recent traffic…'),
  );
  api('GET', usageUrl(key.id))
    .then((usage) => show(usageArea, recentUseNotice(key, usage)))
    .catch(() => show(usageArea, recentUseNotice(key, null)));

  const confirm = $('[data-confirm-revoke]', dialog);
  confirm.onclick = () =>
    whileBusy(confirm, 'Revoking…', async () => {
      try {
        await api('DELETE', `/v1/keys/${encodeURIComponent(key.id)}`);
        dialog.close();
        toast(`${keyTitle(key)} is revoked. Requests with it now fail with 401.`);
        await refresh();
        // The trash button that opened the dialog is gone with the key's row.
        if (document.activeElement === document.body) $('h1').focus();
      } catch (error) {
        show($('[data-dialog-alert]', dialog), errorBox(error, 'The key was not revoked'));
      }
    });
  openModal(dialog, { opener });
}

// ---------- Rotate: generate, roll out, retire ----------

/** Whether the key had requests within the recent window (counted, or by its last use). */
function usedInWindow(key, usage) {
  const recent = usage ? recentRequests(usage.minutes, RECENT_MINUTES) : 0;
  return recent > 0 || recentlyUsed(usage?.lastUsedAt ?? key.lastUsedAt);
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
    if (step === 1) this.renderGenerate();
    else if (step === 2) this.renderRollOut();
    else if (step === 3) this.renderRetire();
    else this.renderDone();
    if (this.dialog.open) this.focusTarget?.focus();
    scheduleRefresh();
  }

  renderGenerate() {
    const old = this.oldKey;
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
    show(this.content, form);

    const submit = this.button('Generate new key', { type: 'submit', form: 'rotate-form' });
    const generate = () =>
      whileBusy(submit, 'Generating…', async () => {
        const name = $('#rotate-name').value.trim();
        const body = name ? { name } : {};
        if (form.elements.retire.value === 'schedule') body.expireOldKeyInSeconds = Number(grace.value);
        try {
          const rotated = await api('POST', `/v1/keys/${encodeURIComponent(old.id)}/rotate`, body);
          this.oldKey = rotated.oldKey;
          this.newKey = rotated.key;
          this.apiKey = rotated.apiKey;
          await refresh();
          this.go(2);
        } catch (error) {
          show(this.alert, errorBox(error, 'No key was generated'));
        }
      });
    show(
      this.footer,
      this.button('Cancel', { class: 'button secondary', 'data-close': true }, () => this.dialog.close()),
      submit,
    );
    this.focusTarget = $('#rotate-name', this.content);
  }

  renderRollOut() {
    const parts = [
      h(
        'p',
        { class: 'step-lead' },
        `Deploy the new key ${keyTitle(this.newKey)} everywhere the old key ${keyTitle(this.oldKey)} is used. This page watches both keys: once the old key gets no more requests, continue.`,
      ),
    ];
    if (this.apiKey) {
      // Held until the dialog closes: going to step 3 and back shows the same key again.
      this.secret ??= holdSecret(this.alert);
      parts.push(keyReveal(this.apiKey, this.newKey));
      this.focusTarget = $('[data-copy]', parts[parts.length - 1]);
    } else {
      parts.push(
        alertBox(
          'info',
          'The new key was shown once, when it was generated. If it was not saved, revoke it and rotate again.',
        ),
      );
    }
    this.panel = h('div', { class: 'traffic-panel' });
    this.note = h('p', { class: 'poll-note' });
    parts.push(h('h3', { class: 'section-title' }, 'Live traffic'), this.panel, this.note, this.live);
    show(this.content, null);
    this.content.append(...parts);
    const next = this.button('Continue to step 3', {}, () => this.go(3));
    show(
      this.footer,
      this.button('Close', { class: 'button secondary spacer' }, () => this.close()),
      next,
    );
    if (!this.apiKey) this.focusTarget = next;
    this.update();
  }

  renderRetire() {
    const old = this.oldKey;
    show(this.content, null);
    this.panel = h('div', { class: 'traffic-panel' });
    this.note = h('p', { class: 'poll-note' });
    this.usageNotice = h('div');
    const revoke = () =>
      whileBusy(revokeNow, 'Revoking…', async () => {
        try {
          await api('DELETE', `/v1/keys/${encodeURIComponent(old.id)}`);
          await refresh();
          this.go('done');
        } catch (error) {
          show(this.alert, errorBox(error, 'The old key was not revoked'));
        }
      });
    const revokeNow = this.button(
      old.expiresAt ? 'Revoke old key now' : 'Revoke old key',
      { class: 'button danger', 'data-revoke-old': true },
      () => {
        this.sync();
        // Still in use: a second, explicit confirmation, its safe answer focused.
        if (usedInWindow(this.oldKey, state.usage.get(this.oldKey.id))) this.confirmRevoke(revoke, revokeNow);
        else void revoke();
      },
    );
    if (old.expiresAt) {
      this.content.append(
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
      this.content.append(
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
    this.content.append(this.usageNotice, this.panel, this.note, this.live);
    // The safe choice has the focus: Enter alone never revokes.
    const keep = old.expiresAt
      ? this.button('Finish', { class: 'button secondary' }, () => this.close())
      : this.button('Keep both keys for now', { class: 'button secondary' }, () => {
          this.close();
          if (!this.dialog.open) toast('Both keys stay active. Finish the rotation from the banner on this page.');
        });
    show(
      this.footer,
      this.button('Back', { class: 'button secondary spacer' }, () => this.go(2)),
      keep,
      revokeNow,
    );
    this.focusTarget = keep;
    this.update();
  }

  /** The old key was used within the window: say by whom, and ask again before revoking. */
  confirmRevoke(revoke, revokeNow) {
    const usage = state.usage.get(this.oldKey.id);
    const lastUsedAt = usage?.lastUsedAt ?? this.oldKey.lastUsedAt;
    const callers = recentCallers(usage);
    const cancel = h(
      'button',
      { class: 'button secondary', type: 'button', 'data-cancel-revoke': true },
      "Don't revoke",
    );
    const confirm = h('button', { class: 'button danger', type: 'button' }, 'Revoke anyway');
    cancel.addEventListener('click', () => {
      show(this.alert, null);
      revokeNow.focus();
    });
    confirm.addEventListener('click', () => {
      show(this.alert, null);
      void revoke();
    });
    show(
      this.alert,
      alertBox(
        'warning',
        [
          h(
            'p',
            {},
            `${keyTitle(this.oldKey)} is still receiving traffic: last used `,
            lastUsedAt ? timeElement(lastUsedAt) : 'recently',
            callers.length > 0 ? ` by ${plural(callers.length, 'client')}` : '',
            '. Those requests will fail with 401 from the moment you revoke it.',
          ),
          callers.length > 0 ? h('ul', { class: 'callers' }, callers.map(callerLine)) : null,
          h('div', { class: 'confirm-actions' }, cancel, confirm),
        ].filter(Boolean),
        { title: 'Revoke a key that is still in use?', role: 'alert' },
      ),
    );
    cancel.focus();
  }

  renderDone() {
    this.rejectedNotice = h('div', { 'data-rejected-calls': true });
    show(
      this.content,
      alertBox(
        'success',
        `${keyTitle(this.oldKey)} is revoked and no longer accepted anywhere. ${keyTitle(this.newKey)} is your active key.`,
        { title: 'Rotation complete', role: 'status' },
      ),
      this.rejectedNotice,
    );
    const done = this.button('Done', {}, () => this.dialog.close());
    show(this.footer, done);
    this.focusTarget = done;
    this.update();
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
          `No calls with ${keyTitle(this.oldKey)} since it was revoked. This keeps watching while the dialog is open; counts can lag a few seconds behind.`,
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
          `${plural(total, 'call')} with the revoked key in the last hour, the latest `,
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

function openRotation(options, opener) {
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

// ---------- Start ----------

async function start() {
  const reveal = revealDialog();
  closeReveal = guardSecretDialog(reveal, $('[data-reveal-notices]', reveal), () => reveal.close());
  $('[data-reveal-done]', reveal).addEventListener('click', () => closeReveal());
  const rotate = $('[data-rotate-dialog]');
  closeRotation = guardSecretDialog(rotate, $('[data-dialog-alert]', rotate), () => rotate.close());
  guardSessionEnd(sessionEndedWhileKeyShown);
  $('[data-generate]').addEventListener('click', (event) => openGenerate(event.currentTarget));
  $('[data-generate-form]').addEventListener('submit', submitGenerate);
  $('[data-rename-form]').addEventListener('submit', submitRename);
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
  await startSignedInPage();
  await refresh();
}

void start();
