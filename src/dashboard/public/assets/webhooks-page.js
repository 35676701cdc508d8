// Webhooks: add an endpoint (its signing secret shown once), list endpoints with their recent deliveries
// and every attempt, delete an endpoint.

import { api } from './api.js';
import { pageAlert, showPageError, startSignedInPage } from './shell.js';
import { timeElement } from './format.js';
import { alertBox, errorBox, h, icon, openModal, secretField, show, toast, whileBusy } from './ui.js';

const $ = (selector, root = document) => root.querySelector(selector);

/** Deliveries shown per endpoint. */
const RECENT_DELIVERIES = 10;
/** While a delivery is pending, the list refreshes this often (ms). */
const REFRESH_MS = 3000;

const STATUS_LABELS = { pending: 'Retrying', delivered: 'Delivered', failed: 'Failed' };
const STATUS_TONES = { pending: 'expiring', delivered: 'active', failed: 'revoked' };

let refreshTimer;

function secretReveal(secret, webhook) {
  const field = secretField(secret, {
    id: 'webhook-secret',
    attribute: 'data-webhook-secret',
    copied: 'Signing secret copied to the clipboard.',
    select: 'select the secret',
  });
  const done = h('button', { class: 'button', type: 'button', 'data-secret-done': true }, "Done, I've saved it");
  const block = h(
    'section',
    { class: 'card key-reveal-block', 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title' }, 'Signing secret'),
    alertBox(
      'warning',
      [
        `Copy the signing secret of ${webhook.url} now. Your receiver verifies every delivery with it ` +
          '(e.g. new Webhook(secret).verify(body, headers) with the standardwebhooks package). It is not shown again.',
      ],
      { title: 'This secret will not be shown again' },
    ),
    h('div', { class: 'field' }, h('label', { for: 'webhook-secret' }, 'Signing secret'), field),
    done,
  );
  // The secret leaves the page when the user says it is saved.
  done.addEventListener('click', () => {
    show($('[data-secret-reveal]'));
    $('main h1')?.focus();
  });
  return block;
}

/**
 * Under a refused URL on loopback or a private network (or an http one): how to allow it, since the quick
 * start is where people try webhooks, with a receiver on localhost.
 */
function refusalHint(error, url) {
  if (error?.code !== 'webhook_url_refused') return null;
  const local = /^http:/i.test(url) || /loopback|private|link-local|reserved/.test(error.message ?? '');
  if (!local) return null;
  return h(
    'p',
    { class: 'local-receivers', 'data-refusal-hint': true },
    'For a receiver on your machine or network, start keyward with ',
    h('code', {}, 'KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true'),
    ' (e.g. ',
    h('code', {}, 'KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true npm start'),
    '), then add it again.',
  );
}

function attemptLine(attempt) {
  const outcome = attempt.statusCode !== null ? `HTTP ${attempt.statusCode}` : (attempt.error ?? 'no answer');
  return h(
    'li',
    { 'data-attempt': true },
    timeElement(attempt.attemptedAt),
    ` · ${outcome} · ${attempt.durationMs} ms`,
    attempt.retryAt ? [' · next try ', timeElement(attempt.retryAt)] : null,
  );
}

function deliveryRow(delivery) {
  const data = delivery.payload?.data ?? {};
  return h(
    'tr',
    { 'data-delivery': delivery.eventType, 'data-status': delivery.status },
    h('td', { 'data-label': 'When', class: 'nowrap' }, timeElement(delivery.createdAt)),
    h(
      'td',
      { class: 'primary-cell' },
      h('code', {}, delivery.eventType),
      data.reason ? h('span', { class: 'cell-sub' }, `reason: ${data.reason}`) : null,
      data.keyHint ? h('span', { class: 'cell-sub' }, h('code', { class: 'key-hint' }, data.keyHint)) : null,
    ),
    h(
      'td',
      { 'data-label': 'Status' },
      h('span', { class: `badge ${STATUS_TONES[delivery.status] ?? ''}` }, STATUS_LABELS[delivery.status]),
    ),
    h(
      'td',
      { 'data-label': 'Attempts' },
      delivery.attempts.length === 0
        ? h('span', { class: 'faint' }, 'Not yet attempted')
        : h(
            'details',
            {},
            h('summary', {}, `${delivery.attempts.length} attempt${delivery.attempts.length === 1 ? '' : 's'}`),
            h('ol', { class: 'attempts' }, delivery.attempts.map(attemptLine)),
          ),
    ),
  );
}

function endpointCard(webhook, deliveries, onDelete) {
  const remove = h(
    'button',
    {
      class: 'button secondary small',
      type: 'button',
      'data-delete': webhook.id,
      'data-focus-id': `delete-${webhook.id}`,
      'aria-label': `Delete endpoint ${webhook.url}`,
    },
    icon('trash'),
    'Delete',
  );
  remove.addEventListener('click', () => onDelete(webhook, remove));
  return h(
    'section',
    { class: 'card webhook-endpoint', 'data-endpoint': webhook.url },
    h(
      'div',
      { class: 'webhook-endpoint-header' },
      h(
        'div',
        {},
        h('code', { class: 'webhook-url' }, webhook.url),
        h(
          'span',
          { class: 'cell-sub' },
          'Added ',
          timeElement(webhook.createdAt),
          webhook.createdBy ? ` by ${webhook.createdBy}` : '',
        ),
      ),
      remove,
    ),
    deliveries.length === 0
      ? h('p', { class: 'empty-state' }, 'No deliveries yet: they appear when a key changes.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data stacked' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'When'),
                h('th', { scope: 'col' }, 'Event'),
                h('th', { scope: 'col' }, 'Status'),
                h('th', { scope: 'col' }, 'Attempts'),
              ),
            ),
            h('tbody', {}, deliveries.map(deliveryRow)),
          ),
        ),
  );
}

async function load() {
  clearTimeout(refreshTimer);
  const { webhooks, maxWebhooks } = await api('GET', '/v1/webhooks');
  const deliveries = await Promise.all(
    webhooks.map((webhook) =>
      api('GET', `/v1/webhooks/${webhook.id}/deliveries?limit=${RECENT_DELIVERIES}`).then((page) => page.deliveries),
    ),
  );
  // Details the user opened stay open across a refresh.
  const open = new Set(
    [...document.querySelectorAll('[data-endpoints] details[open]')].map(
      (d) => d.closest('tr')?.dataset.delivery + d.closest('section')?.dataset.endpoint,
    ),
  );
  const container = $('[data-endpoints]');
  if (webhooks.length === 0) {
    show(container, h('p', { class: 'empty-state' }, 'No endpoints yet.'));
  } else {
    show(
      container,
      webhooks.map((webhook, index) => endpointCard(webhook, deliveries[index], confirmDelete)),
    );
    for (const details of container.querySelectorAll('details')) {
      if (open.has(details.closest('tr')?.dataset.delivery + details.closest('section')?.dataset.endpoint))
        details.open = true;
    }
  }
  const add = $('[data-add]');
  add.disabled = webhooks.length >= maxWebhooks;
  add.title = add.disabled ? `At most ${maxWebhooks} endpoints: delete one first.` : '';
  if (deliveries.flat().some((delivery) => delivery.status === 'pending')) {
    refreshTimer = setTimeout(() => load().catch((error) => showPageError(error, 'Could not refresh')), REFRESH_MS);
  }
}

function confirmDelete(webhook, opener) {
  const dialog = $('[data-delete-dialog]');
  show($('[data-dialog-alert]', dialog));
  $('[data-delete-text]', dialog).textContent =
    `${webhook.url} stops receiving events at once; deliveries still being retried are dropped.`;
  const confirm = $('[data-confirm-delete]', dialog);
  const onConfirm = () =>
    whileBusy(confirm, 'Deleting…', async () => {
      try {
        await api('DELETE', `/v1/webhooks/${webhook.id}`);
        dialog.close();
        toast('Endpoint deleted.');
        await load();
      } catch (error) {
        show($('[data-dialog-alert]', dialog), errorBox(error, 'Could not delete the endpoint'));
      }
    });
  confirm.addEventListener('click', onConfirm);
  $('[data-close]', dialog).onclick = () => dialog.close();
  openModal(dialog, { opener, onClose: () => confirm.removeEventListener('click', onConfirm) });
}

async function start() {
  if (!(await startSignedInPage())) return;
  try {
    await load();
  } catch (error) {
    showPageError(error, 'Could not load your webhooks');
  }
  const form = $('[data-add-form]');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const url = form.elements.url.value.trim();
    const alert = $('[data-add-alert]');
    if (url === '') {
      show(alert, alertBox('error', 'Enter the URL of your endpoint.'));
      form.elements.url.focus();
      return;
    }
    void whileBusy($('[data-add]'), 'Adding…', async () => {
      try {
        const { secret, webhook } = await api('POST', '/v1/webhooks', { url });
        show(alert);
        show(pageAlert());
        form.reset();
        show($('[data-secret-reveal]'), secretReveal(secret, webhook));
        $('[data-copy]').focus();
        await load();
      } catch (error) {
        show(alert, errorBox(error, 'Could not add the endpoint'), refusalHint(error, url));
      }
    });
  });
}

void start();
