// A key's access: full, or restricted to scopes and allowed networks; and its metadata. The fields that set them
// (generating a key, "Edit access"), the summary the list shows, and the words the details and the rotation use.

import { api } from './api.js';
import { plural } from './format.js';
import { h } from './ui.js';
import { rateLimitFields } from './rate-limits.js';

/** The server's rules (src/keys/key-schemas.ts), checked here first to say what is wrong in plain words. */
const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/*-]{0,63}$/;
const MAX_SCOPES = 50;
const MAX_NETWORKS = 32;
const MAX_METADATA_BYTES = 4096;
/** How many scopes the list names before "+3 more". */
const LISTED_SCOPES = 3;

let catalogue = null;

/**
 * The deployment's scope catalogue, [{ name, description }], or null when scopes are free-form (or the catalogue
 * could not be read: the server still checks every scope).
 */
/** A form field: its label, its control and the hint the control is described by. */
function labelledField(control, label, hintId, hint) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    h('p', { class: 'hint', id: hintId }, hint),
  );
}

export function scopeCatalogue() {
  catalogue ??= api('GET', '/v1/scopes')
    .then((result) => result.scopes)
    .catch(() => {
      catalogue = null;
      return null;
    });
  return catalogue;
}

export const isRestricted = (key) => key.scopes !== null || key.allowedNetworks !== null;

/** "orders:read, orders:write +2 more · 1 network", or "" for full access. */
export function accessSummaryText(key) {
  const parts = [];
  if (key.scopes !== null) {
    const listed = key.scopes.slice(0, LISTED_SCOPES).join(', ');
    const more = key.scopes.length - LISTED_SCOPES;
    parts.push(key.scopes.length === 0 ? 'no scopes' : more > 0 ? `${listed} +${more} more` : listed);
  } else {
    parts.push('all scopes');
  }
  if (key.allowedNetworks !== null) parts.push(plural(key.allowedNetworks.length, 'network'));
  return parts.join(' · ');
}

/** Everything about the access, one line each, for a tooltip. */
function accessTooltip(key) {
  return [
    `Scopes: ${key.scopes === null ? 'all' : key.scopes.join(' ') || 'none'}`,
    `Allowed networks: ${key.allowedNetworks === null ? 'anywhere' : key.allowedNetworks.join(', ')}`,
  ].join('\n');
}

/** The list's line under a key's name: "Restricted: orders:read · 1 network" or a faint "Full access". */
export function accessLine(key, editButton) {
  const what = isRestricted(key)
    ? h(
        'span',
        { class: 'access-summary', title: accessTooltip(key) },
        h('span', { class: 'access-restricted' }, 'Restricted:'),
        // Each part whole on its line ("1 network" is never cut in two); a long list of scopes wraps at its commas.
        accessSummaryText(key)
          .split(' · ')
          .flatMap((part, index) => [index > 0 ? ' · ' : ' ', h('span', { class: 'access-part' }, part)]),
      )
    : h('span', { class: 'faint' }, 'Full access');
  return h('div', { class: 'key-access', 'data-key-access': true }, what, editButton ? [' ', editButton] : null);
}

/** The facts of the details dialog: Access, Scopes, Allowed networks, Metadata. */
export function accessFacts(key, fact) {
  const codes = (values) => values.flatMap((value, index) => [index > 0 ? ' ' : '', h('code', {}, value)]);
  return [
    fact('Access', isRestricted(key) ? 'Restricted' : 'Full access'),
    key.scopes !== null ? fact('Scopes', key.scopes.length > 0 ? codes(key.scopes) : 'None') : null,
    key.allowedNetworks !== null ? fact('Allowed networks', codes(key.allowedNetworks)) : null,
    key.metadata !== null
      ? fact('Metadata', h('pre', { class: 'metadata' }, JSON.stringify(key.metadata, null, 2)))
      : null,
  ];
}

/** For the rotation: "Full access: all scopes, from anywhere" or "Restricted: orders:read · 1 network". */
export function accessSentence(key) {
  return isRestricted(key) ? `Restricted: ${accessSummaryText(key)}` : 'Full access: all scopes, from anywhere';
}

const splitList = (text) => [...new Set(text.split(/[\s,]+/).filter((part) => part !== ''))];

function textarea(id, name, value, attributes) {
  const element = h('textarea', { id, name, spellcheck: 'false', autocomplete: 'off', ...attributes });
  element.value = value;
  return element;
}

function choice(name, value, title, text, checked) {
  return h(
    'label',
    { class: 'choice' },
    h('input', { type: 'radio', name, value, checked }),
    h('span', {}, h('span', { class: 'choice-title' }, title), h('span', { class: 'choice-text' }, text)),
  );
}

/** One checkbox of the catalogue's scopes, with its description. */
function scopeCheckbox(prefix, scope, description, checked) {
  const id = `${prefix}-scope-${scope.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return h(
    'label',
    { class: 'scope-option', for: id },
    h('input', { type: 'checkbox', id, name: 'scope', value: scope, checked }),
    h('span', {}, h('code', { class: 'scope-name' }, scope), h('span', { class: 'choice-text' }, description)),
  );
}

/**
 * The fields of a key's access, filled with `key`'s (none: a new key, full access), ids prefixed with `prefix`;
 * its own rate limit among them (`accountLimit`: the account's, or null). Returns the element, read(), which
 * answers { body } (scopes, allowedNetworks, metadata, rateLimit, each null when unset) or { error, field } when
 * something is wrong before asking the server, and rateLimitError(message) to show the server's refusal there.
 */
export function accessFields(prefix, key, scopes, accountLimit = null) {
  const restricted = key !== null && isRestricted(key);
  const current = new Set(key?.scopes ?? []);
  let scopeInput;
  let scopeControl;
  if (scopes !== null) {
    const known = new Set(scopes.map((scope) => scope.name));
    // A scope the key has that the catalogue no longer lists stays visible, to keep or remove.
    const extra = [...current].filter((scope) => !known.has(scope));
    scopeControl = h(
      'fieldset',
      { class: 'scope-list', 'aria-describedby': `${prefix}-scopes-hint` },
      h('legend', { class: 'legend' }, 'Scopes'),
      h(
        'p',
        { class: 'hint', id: `${prefix}-scopes-hint` },
        'The key can call only what these scopes allow. None chosen: every scope.',
      ),
      scopes.map((scope) => scopeCheckbox(prefix, scope.name, scope.description, current.has(scope.name))),
      extra.map((scope) => scopeCheckbox(prefix, scope, 'Not in the catalogue any more', true)),
    );
  } else {
    scopeInput = h('input', {
      id: `${prefix}-scopes`,
      name: 'scopes',
      type: 'text',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'e.g. orders:read orders:write',
      'aria-describedby': `${prefix}-scopes-hint`,
    });
    scopeInput.value = [...current].join(' ');
    scopeControl = labelledField(
      scopeInput,
      'Scopes',
      `${prefix}-scopes-hint`,
      'Separated by spaces or commas, e.g. orders:read. Empty: every scope.',
    );
  }
  const networks = textarea(`${prefix}-networks`, 'allowedNetworks', (key?.allowedNetworks ?? []).join('\n'), {
    rows: 3,
    placeholder: '203.0.113.0/24\n2001:db8::/32',
    'aria-describedby': `${prefix}-networks-hint`,
  });
  const metadata = textarea(
    `${prefix}-metadata`,
    'metadata',
    key?.metadata ? JSON.stringify(key.metadata, null, 2) : '',
    { rows: 3, placeholder: '{ "team": "data" }', 'aria-describedby': `${prefix}-metadata-hint` },
  );
  const restriction = h(
    'div',
    { class: 'restriction', 'data-restriction': true, hidden: !restricted },
    scopeControl,
    labelledField(
      networks,
      'Allowed networks',
      `${prefix}-networks-hint`,
      'Optional. IPv4 or IPv6 addresses or CIDR ranges, one per line or separated by commas. Empty: from anywhere.',
    ),
  );
  const access = h(
    'fieldset',
    { class: 'access-choice' },
    h('legend', { class: 'legend' }, 'Access'),
    choice(`${prefix}-access`, 'full', 'Full access', 'Every scope, from anywhere.', !restricted),
    choice(
      `${prefix}-access`,
      'restricted',
      'Restricted',
      'Only the scopes you choose, and optionally only from your networks.',
      restricted,
    ),
  );
  access.addEventListener('change', () => {
    restriction.hidden = access.querySelector('input:checked').value !== 'restricted';
  });
  const rateLimit = rateLimitFields(prefix, key, accountLimit);
  const element = h(
    'div',
    { class: 'access-fields' },
    access,
    restriction,
    rateLimit.element,
    labelledField(
      metadata,
      'Metadata (JSON)',
      `${prefix}-metadata-hint`,
      'Optional. A JSON object returned with the key to whoever checks it, e.g. the owning team; keyward never interprets it.',
    ),
  );

  // A field marked wrong is unmarked as soon as it is changed.
  element.addEventListener('input', (event) => event.target.removeAttribute('aria-invalid'));

  function read() {
    for (const input of element.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    const invalid = (field, error) => {
      field.setAttribute('aria-invalid', 'true');
      return { error, field };
    };
    const body = { scopes: null, allowedNetworks: null, metadata: null, rateLimit: null };
    if (!restriction.hidden) {
      const chosen = scopeInput
        ? splitList(scopeInput.value)
        : [...element.querySelectorAll('input[name="scope"]:checked')].map((box) => box.value);
      const wrong = chosen.find((scope) => !SCOPE_PATTERN.test(scope));
      const scopeField = scopeInput ?? element.querySelector('input[name="scope"]');
      if (wrong !== undefined) {
        return invalid(
          scopeField,
          `“${wrong}” is not a scope: letters, digits and . _ : / * - only, at most 64 characters.`,
        );
      }
      if (chosen.length > MAX_SCOPES) return invalid(scopeField, `At most ${MAX_SCOPES} scopes.`);
      const allowed = splitList(networks.value);
      if (allowed.length > MAX_NETWORKS) return invalid(networks, `At most ${MAX_NETWORKS} allowed networks.`);
      if (chosen.length === 0 && allowed.length === 0) {
        return invalid(
          scopeField,
          'Choose at least one scope or allowed network, or choose Full access for a key without limits.',
        );
      }
      body.scopes = chosen.length > 0 ? chosen : null;
      body.allowedNetworks = allowed.length > 0 ? allowed : null;
    }
    const text = metadata.value.trim();
    if (text !== '') {
      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch {
        return invalid(metadata, 'Metadata must be valid JSON, e.g. { "team": "data" }.');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return invalid(metadata, 'Metadata must be a JSON object, in { }.');
      }
      if (new window.TextEncoder().encode(JSON.stringify(parsed)).length > MAX_METADATA_BYTES) {
        return invalid(metadata, `Metadata can be at most ${MAX_METADATA_BYTES} bytes of JSON.`);
      }
      body.metadata = parsed;
    }
    const limit = rateLimit.read();
    if (limit.error) return limit;
    body.rateLimit = limit.rateLimit;
    return { body };
  }

  return { element, read, rateLimitError: rateLimit.showError };
}

/** A refusal that belongs to one field (a rate limit above the account's) shown on it; false for any other. */
export function showOnField(fields, error) {
  if (error?.code !== 'rate_limit_above_account') return false;
  fields.rateLimitError(error.message);
  return true;
}

/** Only what changed of `body` (from read()) against `key`: the PATCH of "Edit access". */
export function accessChanges(key, body) {
  // Lists compare in any order (the catalogue's order is not the key's); metadata as JSON text.
  const same = (a, b) =>
    Array.isArray(a) && Array.isArray(b)
      ? JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())
      : JSON.stringify(a) === JSON.stringify(b);
  const changes = {};
  for (const name of ['scopes', 'allowedNetworks', 'metadata', 'rateLimit']) {
    if (!same(body[name], key[name])) changes[name] = body[name];
  }
  return changes;
}
