// Loading the keys and their usage, and refreshing them: every 10 s, every 3 s while a rotation is watched.

import { api } from './api.js';
import { pageAlert, showPageError } from './shell.js';
import { h, show } from './ui.js';
import { $, isActive, recentlyRejected, REFRESH_MS, ROTATION_REFRESH_MS, state, usageUrl } from './keys-page-state.js';

let refreshTimer;
let refreshing = null;
let queued = null;
/** Set once the session ended while a key is on screen: the page leaves when that key's dialog closes. */
let paused = false;
/** What a successful load re-renders (the list, and the rotation dialog while open). */
let afterLoad = () => {};

export function onRefresh(render) {
  afterLoad = render;
}

export function pauseRefreshing() {
  paused = true;
  clearTimeout(refreshTimer);
}

async function loadKeys() {
  // The limits are an extra: the keys still show when they cannot be read (Redis unreachable).
  const [list, limits] = await Promise.all([api('GET', '/v1/keys'), api('GET', '/v1/limits').catch(() => null)]);
  // Usage for active keys, for ended keys still being called, and for the key a rotation just retired
  // (its rejected calls show in the dialog before the first flush sets lastRejectedAt).
  const watched = list.keys.filter(
    (key) => isActive(key) || recentlyRejected(key) || key.id === state.rotation?.oldKey.id,
  );
  const reports = await Promise.all(watched.map((key) => api('GET', usageUrl(key.id)).catch(() => null)));
  state.keys = list.keys;
  state.maxActiveKeys = list.maxActiveKeys;
  state.usageFlushIntervalMs = list.usageFlushIntervalMs ?? state.usageFlushIntervalMs;
  state.limits = limits ?? state.limits;
  state.usage = new Map(watched.flatMap((key, index) => (reports[index] ? [[key.id, reports[index]]] : [])));
  state.loaded = true;
}

/** Reloads keys and usage, re-renders, and schedules the next refresh. */
export function refresh() {
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
      afterLoad();
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

export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (document.hidden || paused) return;
  refreshTimer = setTimeout(refresh, state.rotation ? ROTATION_REFRESH_MS : REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});
