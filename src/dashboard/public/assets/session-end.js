// Why a session ended, as every tab of this browser tells it. A tab that signs out leaves a marker in
// localStorage before it asks keyward to end the session, so a tab that then finds the session gone (its
// own polling, or another tab's) says "You have signed out", not that the session expired. Signing in or
// up removes the marker. Storage can be unavailable (disabled, or full): the answer is then "expired".

const SIGNED_OUT_KEY = 'keyward.signed-out';

export function markSignedOut() {
  try {
    localStorage.setItem(SIGNED_OUT_KEY, '1');
  } catch {
    // no storage: other tabs say "expired"
  }
}

export function clearSignedOut() {
  try {
    localStorage.removeItem(SIGNED_OUT_KEY);
  } catch {
    // no storage: nothing was marked
  }
}

/** The sign-in page's notice for a session found ended: 'signed-out' or 'expired'. */
export function sessionEndReason() {
  try {
    return localStorage.getItem(SIGNED_OUT_KEY) === null ? 'expired' : 'signed-out';
  } catch {
    return 'expired';
  }
}
