// Dates and numbers as people read them: "3 minutes ago", with the exact time (browser locale, time zone) in a tooltip.

import { cutText, isLongerThan } from './cut-text.js';

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
/** For the future: "in 1 day" rather than "tomorrow", which reads as a calendar day. */
const ahead = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
/** Exact times in the browser's own locale, with the time zone ("5 Dec 2026, 07:02:11 CET"). */
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' });
const numbers = new Intl.NumberFormat('en');

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "40 seconds ago", "3 minutes ago", "in 24 hours", "just now". */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((new Date(date).getTime() - now) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return 'just now';
  // The future is rounded to the nearest unit, promoted from 95 %: a key created to expire in 7 days reads
  // "in 7 days", not "in 6 days", and one at 59.9 minutes "in 1 hour". The past is truncated ("3 minutes ago").
  if (seconds > 0) {
    for (const [unit, unitSeconds] of UNITS) {
      if (unit === 'week') continue;
      if (size >= unitSeconds * 0.95 || unit === 'second') return ahead.format(Math.round(seconds / unitSeconds), unit);
    }
  }
  for (const [unit, unitSeconds] of UNITS) {
    if (size >= unitSeconds || unit === 'second') {
      return relative.format(Math.trunc(seconds / unitSeconds), unit);
    }
  }
  return relative.format(seconds, 'second');
}

/** "Nov 26, 2025, 6:34:10 PM UTC". */
export function absoluteTime(date) {
  return absolute.format(new Date(date));
}

export function formatNumber(value) {
  return numbers.format(value);
}

/** "1 request", "12 requests". */
export function plural(count, singular, pluralForm = `${singular}s`) {
  return `${formatNumber(count)} ${count === 1 ? singular : pluralForm}`;
}

/** A <time> showing the relative time, kept current by refreshTimes(); the exact time is its tooltip. */
export function timeElement(iso, prefix = '') {
  const element = document.createElement('time');
  element.dateTime = iso;
  element.title = absoluteTime(iso);
  element.dataset.relative = prefix;
  element.textContent = prefix + relativeTime(iso);
  return element;
}

/** Re-renders every relative time on the page ("just now" becomes "1 minute ago"). */
export function refreshTimes(root = document) {
  for (const element of root.querySelectorAll('time[data-relative]')) {
    element.textContent = element.dataset.relative + relativeTime(element.dateTime);
  }
}

const BROWSERS = [
  ['Edge', /Edg\/(\d+)/],
  ['Opera', /OPR\/(\d+)/],
  ['Firefox', /Firefox\/(\d+)/],
  ['Chrome', /Chrom(?:e|ium)\/(\d+)/],
  ['Safari', /Version\/(\d+).*Safari/],
];
const SYSTEMS = [
  ['Windows', /Windows/],
  ['iOS', /iPhone|iPad/],
  ['macOS', /Mac OS X/],
  ['Android', /Android/],
  ['Linux', /Linux/],
];

/** "Chrome 131 on macOS", or a tool's own name ("curl/8.5.0", "node"); the full text belongs in a tooltip. */
export function describeUserAgent(agent) {
  if (!agent) return 'no user agent';
  const system = SYSTEMS.find(([, pattern]) => pattern.test(agent))?.[0];
  for (const [name, pattern] of BROWSERS) {
    const match = pattern.exec(agent);
    if (match) return `${name} ${match[1]}${system ? ` on ${system}` : ''}`;
  }
  const product = agent.split(/\s+/)[0];
  return isLongerThan(product, 40) ? `${cutText(product, 39)}…` : product;
}
