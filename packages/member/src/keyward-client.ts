import { MemberError } from './member-error.js';

/**
 * keyward's member API over HTTP: every call carries the member credential,
 * is bounded by a timeout, and fails with a {@link MemberError} that says why.
 */
export class KeywardClient {
  private readonly authorization: string;

  constructor(
    private readonly baseUrl: URL,
    credential: string,
    private readonly timeoutMs: number,
  ) {
    this.authorization = `Bearer ${credential}`;
  }

  /** The JSON answer of a call, or undefined for 204. */
  async post<T>(path: string, body: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: this.authorization, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new MemberError('KW_KEYWARD_UNREACHABLE', `keyward is unreachable at ${this.baseUrl.origin}`, error);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text().catch(() => '');
    if (response.ok) return JSON.parse(text) as T;
    const refusal = envelopeOf(text);
    if (response.status === 401) {
      throw new MemberError(
        'KW_MEMBER_CREDENTIAL_REFUSED',
        `keyward at ${this.baseUrl.origin} refused the member credential (wrong or revoked): ${refusal}`,
      );
    }
    const code = response.status === 409 ? 'KW_NO_FLEET' : 'KW_KEYWARD_ERROR';
    throw new MemberError(code, `keyward at ${this.baseUrl.origin} answered ${response.status}: ${refusal}`);
  }
}

function envelopeOf(text: string): string {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.code) return `${error.code}: ${error.message ?? ''}`;
  } catch {
    // not keyward's envelope: say what came
  }
  return text.slice(0, 200) || 'no body';
}
