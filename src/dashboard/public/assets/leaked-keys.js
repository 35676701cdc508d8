// Keys revoked automatically because a secret scanner (GitHub) found them in public: a banner with the next
// step, and a note in the key list. Everything reported (url, source) is shown as text; the url becomes a
// link only when it is https, so a reported "javascript:" or "data:" URL can never run.

import { timeElement } from './format.js';
import { alertBox, h, show } from './ui.js';

/** How long after the automatic revocation the banner stays; the key list says so for good. */
const BANNER_DAYS = 30;

const SOURCES = {
  commit: 'a commit',
  content: 'a file',
  pull_request_description: 'a pull request',
  pull_request_comment: 'a pull request comment',
  issue_description: 'an issue',
  issue_comment: 'an issue comment',
  discussion_body: 'a discussion',
  discussion_comment: 'a discussion comment',
  commit_comment: 'a commit comment',
  gist_content: 'a gist',
  gist_comment: 'a gist comment',
};

/** Revoked by keyward because it was reported found in public. */
export function isLeaked(key) {
  return key.revocation?.reason === 'leaked' && key.revocation.leak !== null;
}

/** Where it was found: a link for an https URL, text for anything else (or "an unknown place"). */
export function leakPlace(leak) {
  const url = typeof leak.url === 'string' ? leak.url : '';
  let https = false;
  try {
    https = url !== '' && new URL(url).protocol === 'https:';
  } catch {
    // not a URL: shown as text
  }
  const where = https
    ? h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank', 'data-leak-url': true }, url)
    : h('span', { class: 'leak-url', 'data-leak-url': true }, url || 'an unknown place');
  const what = SOURCES[leak.source];
  return what ? [where, ` (in ${what})`] : [where];
}

/** The note under a leaked key's status in the list. */
export function leakNote(key) {
  if (!isLeaked(key)) return null;
  return h(
    'p',
    { class: 'leak-note', 'data-leak-note': true },
    'Revoked automatically: found in public at ',
    leakPlace(key.revocation.leak),
    ', ',
    timeElement(key.revocation.leak.reportedAt),
  );
}

/**
 * One banner per key revoked automatically in the last BANNER_DAYS, with the next step. `onGenerate(opener)`
 * opens the page's "generate a key" dialog.
 */
export function renderLeakBanners(container, keys, { onGenerate, now = Date.now() } = {}) {
  if (!container) return;
  const recent = keys.filter(
    (key) => isLeaked(key) && now - Date.parse(key.revocation.at) < BANNER_DAYS * 24 * 60 * 60 * 1000,
  );
  show(
    container,
    recent.map((key) => {
      const { leak, at } = key.revocation;
      const banner = alertBox(
        'warning',
        [
          h(
            'p',
            {},
            `${key.name} (`,
            h('code', {}, key.hint),
            ') was revoked automatically: found in public at ',
            leakPlace(leak),
            ', ',
            timeElement(at),
            '. Requests with it are refused on every instance.',
          ),
          'Next: generate a replacement key, roll it out to every service that used this one, and remove the ' +
            'leaked key from where it was published (and from its history).',
        ],
        { title: 'A key was found in public and revoked' },
      );
      banner.classList.add('leak-banner');
      banner.dataset.leakBanner = key.id;
      banner.append(
        h(
          'div',
          { class: 'alert-actions' },
          h(
            'button',
            {
              class: 'button small',
              type: 'button',
              'data-focus-id': `replace-leaked-${key.id}`,
              onclick: (event) => onGenerate?.(event.currentTarget),
            },
            'Generate a replacement',
          ),
        ),
      );
      return banner;
    }),
  );
}
