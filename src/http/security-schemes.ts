/** The OpenAPI security requirements of keyward's routes: an API key, or a dashboard session. */
export const API_KEY_SECURITY = [{ apiKey: [] }];
/**
 * Either session cookie: `keyward_session` where the cookie is not Secure (the embedded default), or
 * `__Host-keyward_session` where it is (Postgres or NODE_ENV=production). A deployment sets one of them.
 */
export const SESSION_SECURITY: Array<Record<string, string[]>> = [{ sessionCookie: [] }, { secureSessionCookie: [] }];
