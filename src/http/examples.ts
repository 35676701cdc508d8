/**
 * Values the OpenAPI examples share, so the examples of different calls tell one consistent story. The keys
 * have the real format (valid checksums, so they parse), but their secrets spell out that they are examples.
 */
export const EXAMPLE = {
  userId: '0b9d6c52-3f8e-4a1d-9c27-5e4f8a6b1d30',
  accountId: 'c3f1a8e2-6b4d-4f7a-8e19-2d5c7b9a0e64',
  email: 'ada@example.com',
  accountName: 'Acme Inc.',
  keyId: '4ZbQ0cXw9LmT2pVa',
  apiKey: 'kw_4ZbQ0cXw9LmT2pVa_EXAMPLEx0nly0n0tA0real0secret00010BteCL',
  hint: 'kw_4ZbQ0cXw9LmT2pVa_…teCL',
  newKeyId: '9hVxR2mKc7TqLw3N',
  newApiKey: 'kw_9hVxR2mKc7TqLw3N_EXAMPLEx0nly0n0tA0real0secret00023Djt7n',
  newHint: 'kw_9hVxR2mKc7TqLw3N_…jt7n',
  requestId: '9f1c2e7a-54b3-4d8e-a6f0-3b2d1c9e8f47',
} as const;
