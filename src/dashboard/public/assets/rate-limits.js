// Rate limits and the monthly quota: the page's "Limits" card (GET /v1/limits), a key's own limit in its row, and
// the fields that set it when generating a key or editing its access.

import { formatNumber } from './format.js';
import { alertBox, h, show } from './ui.js';

/** The server's bounds for a key's own limit (src/keys/key-schemas.ts). */
const MAX_REQUESTS = 1_000_000_000;
const MAX_WINDOW_SECONDS = 86_400;
/** A quota this used is warned about (the quota.threshold webhook's first threshold). */
const QUOTA_WARNING = 0.8;

const UNITS = [
  { seconds: 86_400, name: 'day', short: 'day' },
  { seconds: 3600, name: 'hour', short: 'h' },
  { seconds: 60, name: 'minute', short: 'min' },
  { seconds: 1, name: 'second', short: 's' },
];

/** The largest unit a window is a whole number of: 7200 s → 2 hours. */
function windowIn(windowSeconds) {
  const unit = UNITS.find((candidate) => windowSeconds % candidate.seconds === 0);
  return { count: windowSeconds / unit.seconds, unit };
}

/** "100 / min", "100 / 10 min", "5,000 / day". */
export function rateLimitText({ requests, windowSeconds }) {
  const { count, unit } = windowIn(windowSeconds);
  return `${formatNumber(requests)} / ${count === 1 ? '' : `${formatNumber(count)} `}${unit.short}`;
}

/** "this minute", "this hour", or "this 10-minute window". */
function windowPhrase(windowSeconds) {
  const { count, unit } = windowIn(windowSeconds);
  return count === 1 ? `this ${unit.name}` : `this ${formatNumber(count)}-${unit.name} window`;
}

/** "1 Jan": the day a quota renews (the first of a month, UTC). */
const renewDay = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** A thin bar of how much of a limit is used; `level` colours it (ok, warning, full). */
function usageBar(used, limit, level) {
  const fill = h('span', { class: 'usage-bar-fill' });
  // Set through the CSSOM: the dashboard's CSP refuses style attributes.
  fill.style.width = `${Math.min(100, (used / limit) * 100)}%`;
  return h('span', { class: `usage-bar ${level}`, 'aria-hidden': 'true' }, fill);
}

function limitItem(label, text, bar, data) {
  return h(
    'div',
    { class: 'limit-item', [`data-${data}`]: true },
    h('span', { class: 'limit-label' }, label),
    h('span', { class: 'limit-value' }, text),
    bar,
  );
}

function quotaAlert(month) {
  const renews = renewDay.format(new Date(month.resetAt));
  if (month.used >= month.quota) {
    return alertBox('error', `Requests are refused with 429 until ${renews}, when the quota renews.`, {
      title: 'Monthly quota used up',
      role: 'status',
    });
  }
  if (month.used < QUOTA_WARNING * month.quota) return null;
  const percent = Math.floor((month.used / month.quota) * 100);
  return alertBox(
    'warning',
    `${percent} % of this month's ${formatNumber(month.quota)} requests are used. Once all are, requests are ` +
      `refused with 429 until ${renews}.`,
    { title: 'Monthly quota almost used up' },
  );
}

/** The "Limits" card: the account's rate limit and its current window, the monthly quota and its warnings. */
export function renderLimits(container, limits) {
  container.hidden = limits === null;
  if (limits === null) return;
  const items = [];
  const { window, month } = limits;
  if (window !== null) {
    const level = window.used >= window.limit ? 'full' : 'ok';
    items.push(
      limitItem(
        'Rate limit',
        `${formatNumber(Math.min(window.used, window.limit))} of ${formatNumber(window.limit)} requests ${windowPhrase(window.windowSeconds)}`,
        usageBar(window.used, window.limit, level),
        'limits-window',
      ),
    );
  }
  if (month !== null) {
    const level = month.used >= month.quota ? 'full' : month.used >= QUOTA_WARNING * month.quota ? 'warning' : 'ok';
    items.push(
      limitItem(
        'Monthly quota',
        `${formatNumber(Math.min(month.used, month.quota))} of ${formatNumber(month.quota)} requests this month`,
        usageBar(month.used, month.quota, level),
        'limits-month',
      ),
    );
  }
  show(
    container,
    h(
      'div',
      { class: 'limits-line' },
      h('h2', { class: 'limits-title' }, 'Limits'),
      items.length > 0
        ? items
        : h('span', { class: 'limit-value muted' }, 'No rate limit or monthly quota on this account.'),
    ),
    month === null ? null : h('div', { 'data-quota-alert': true }, quotaAlert(month)),
  );
}

/** Under a key's name in the list: its own limit, "Rate limit 100 / min", or nothing. */
export function keyRateLimitLine(key) {
  if (!key.rateLimit) return null;
  return h(
    'div',
    { class: 'key-rate-limit', 'data-key-rate-limit': true, title: 'Requests with this key, across every instance' },
    `Rate limit ${rateLimitText(key.rateLimit)}`,
  );
}

const wholeNumber = (text) => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN);

/**
 * The fields of a key's own rate limit (requests per a window of a number of seconds, minutes, hours or days),
 * ids prefixed with `prefix`, filled with `key`'s. `accountLimit` (or null) is said in the hint. Returns the
 * element, read() → { rateLimit } (null: none) or { error, field }, and showError(message) for the server's 400.
 */
export function rateLimitFields(prefix, key, accountLimit) {
  const current = key?.rateLimit ? windowIn(key.rateLimit.windowSeconds) : { count: 1, unit: UNITS[2] };
  const describedBy = `${prefix}-rate-hint ${prefix}-rate-error`;
  const numberInput = (id, value, attributes) => {
    const input = h('input', { id, type: 'text', inputmode: 'numeric', autocomplete: 'off', ...attributes });
    input.value = String(value);
    return input;
  };
  const requests = numberInput(`${prefix}-rate-requests`, key?.rateLimit?.requests ?? '', {
    placeholder: 'No limit',
    'aria-describedby': describedBy,
  });
  const count = numberInput(`${prefix}-rate-count`, current.count, {
    class: 'rate-count',
    'aria-label': 'Window length',
    'aria-describedby': describedBy,
  });
  const unit = h(
    'select',
    { id: `${prefix}-rate-unit`, 'aria-label': 'Window unit', 'aria-describedby': describedBy },
    [...UNITS]
      .reverse()
      .map((candidate) =>
        h('option', { value: candidate.seconds, selected: candidate === current.unit }, `${candidate.name}s`),
      ),
  );
  const error = h('p', { class: 'error-text', id: `${prefix}-rate-error`, role: 'alert' });
  const element = h(
    'div',
    { class: 'field rate-limit-field', 'data-rate-limit-field': true },
    h('label', { for: requests.id }, 'Rate limit (requests)'),
    h('div', { class: 'rate-limit-inputs' }, requests, h('span', { class: 'rate-per' }, 'per'), count, unit),
    h(
      'p',
      { class: 'hint', id: `${prefix}-rate-hint` },
      'Optional: at most this many requests with this key per window, counted across every instance; more get 429. ' +
        (accountLimit
          ? `It may be lower than the account's limit of ${rateLimitText(accountLimit)}, not higher.`
          : 'Empty: no limit of its own.'),
    ),
    error,
  );
  element.addEventListener('input', () => showError(''));

  function showError(message, field = requests) {
    for (const input of [requests, count]) input.removeAttribute('aria-invalid');
    error.textContent = message;
    if (message) field.setAttribute('aria-invalid', 'true');
  }

  function read() {
    showError('');
    if (requests.value.trim() === '') return { rateLimit: null };
    const invalid = (field, message) => {
      showError(message, field);
      return { error: message, field };
    };
    const limit = wholeNumber(requests.value);
    if (!(limit >= 1 && limit <= MAX_REQUESTS)) {
      return invalid(requests, `Requests must be a whole number from 1 to ${formatNumber(MAX_REQUESTS)}.`);
    }
    const windowSeconds = wholeNumber(count.value) * Number(unit.value);
    if (!(windowSeconds >= 1 && windowSeconds <= MAX_WINDOW_SECONDS)) {
      return invalid(count, 'The window must be a whole number of seconds, minutes, hours or days, at most 1 day.');
    }
    return { rateLimit: { requests: limit, windowSeconds } };
  }

  return {
    element,
    read,
    showError: (message) => {
      showError(message);
      requests.focus();
    },
  };
}
