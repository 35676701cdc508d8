/**
 * The markup the pages share, by the {{name}} a page places it with. Each is a partial file of
 * src/dashboard/public filled with its own values: field.html is every text field (its label, input, hint and
 * error line, tied together by ids), filter-select.html a filter of the activity page, form-dialog-footer.html the
 * Cancel and submit buttons of a dialog's form.
 */
export type Partials = Readonly<Record<string, readonly [file: string, values: Readonly<Record<string, string>>]>>;

interface FieldOptions {
  /** The line under the input that says what goes in it. */
  hint?: string;
  /** Whether the field has a line for its error (shown by checkFields in auth-form.js); true unless said. */
  error?: boolean;
}

/** field.html's values: `attributes` are the input's own (after its id), as they stand in its tag. */
function field(id: string, label: string, attributes: string, { hint, error = true }: FieldOptions = {}) {
  const lines = [hint === undefined ? null : 'hint', error ? 'error' : null].filter((line) => line !== null);
  const values = {
    id,
    label,
    attributes,
    describedBy: lines.map((line) => `${id}-${line}`).join(' '),
    hint: hint === undefined ? '' : `<p class="hint" id="${id}-hint">${hint}</p>`,
    error: error ? `<p class="error-text" id="${id}-error"></p>` : '',
  };
  return ['field.html', values] as const;
}

const CURRENT_PASSWORD = 'type="password" autocomplete="current-password" required maxlength="256"';
const NEW_PASSWORD = 'type="password" autocomplete="new-password" required minlength="10" maxlength="256"';

export const PARTIALS: Partials = {
  emailField: field('email', 'Email', 'name="email" type="email" autocomplete="username" required maxlength="254"'),
  passwordField: field('password', 'Password', `name="password" ${CURRENT_PASSWORD}`),
  accountNameField: field(
    'accountName',
    'Account name',
    'name="accountName" type="text" autocomplete="organization" required maxlength="100"',
    { hint: 'Your company or team, e.g. Acme Inc.' },
  ),
  newPasswordField: field('password', 'Password', `name="password" ${NEW_PASSWORD}`, {
    hint: 'At least 10 characters. A few unrelated words work well; common passwords, repeats and sequences are refused.',
  }),
  currentPasswordField: field('current-password', 'Current password', `name="currentPassword" ${CURRENT_PASSWORD}`),
  changedPasswordField: field('new-password', 'New password', `name="newPassword" ${NEW_PASSWORD}`, {
    hint: 'The same rules as at sign-up. Every other session is signed out; this one stays.',
  }),
  webhookUrlField: field(
    'webhook-url',
    'Endpoint URL',
    'name="url" type="url" maxlength="2000" required placeholder="https://your-receiver/keyward"',
    { hint: 'An https URL on the public internet.', error: false },
  ),
  keyNameField: field(
    'generate-name',
    'Name',
    'name="name" type="text" maxlength="100" placeholder="e.g. production"',
    {
      hint: 'Optional. Helps you tell keys apart, e.g. by environment or service.',
      error: false,
    },
  ),
  keyFilter: ['filter-select.html', { id: 'filter-key', label: 'Key', all: 'All keys' }],
  actionFilter: ['filter-select.html', { id: 'filter-action', label: 'Event', all: 'All events' }],
  generateFooter: ['form-dialog-footer.html', { submit: 'Generate key' }],
  renameFooter: ['form-dialog-footer.html', { submit: 'Save name' }],
  accessFooter: ['form-dialog-footer.html', { submit: 'Save access' }],
};
