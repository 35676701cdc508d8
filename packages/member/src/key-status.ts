/** Where a key stands. Revoked and expired are final: no later event makes a key active again. */
export type KeyStatus = 'active' | 'revoked' | 'expired';
