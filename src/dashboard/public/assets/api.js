// Calls keyward's JSON API from the dashboard. Every failure becomes an ApiError
// carrying the API's plain-language message, so pages never show a raw response.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when keyward could not be reached
   * @param {string} code the envelope's code, e.g. "key_limit_reached"
   * @param {string} message words for people
   * @param {string | null} requestId quote it when reporting a problem
   */
  constructor(status, code, message, requestId) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

let onSessionExpired = null;

/** Called (instead of throwing) when a signed-in page finds its session gone. */
export function setSessionExpiredHandler(handler) {
  onSessionExpired = handler;
}

/**
 * @param {string} method
 * @param {string} path e.g. "/v1/keys"
 * @param {unknown} [body] sent as JSON when given
 */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'Could not reach keyward. Check your connection and try again.', null);
  }
  if (response.status === 204) return null;
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.ok && payload !== null) return payload;

  const envelope = payload && typeof payload === 'object' ? payload.error : undefined;
  const requestId = envelope?.requestId ?? response.headers.get('x-request-id');
  if (envelope && typeof envelope.message === 'string') {
    if (envelope.code === 'session_required' && onSessionExpired) {
      onSessionExpired();
      // The page is navigating away; never settle, so nothing flashes an error meanwhile.
      return new Promise(() => {});
    }
    throw new ApiError(response.status, String(envelope.code), envelope.message, requestId);
  }
  throw new ApiError(
    response.status,
    'unexpected_response',
    response.status >= 500
      ? `keyward is not answering properly right now (HTTP ${response.status}). Try again in a moment.`
      : `keyward sent an unexpected answer (HTTP ${response.status}). Reload the page and try again.`,
    requestId,
  );
}
