import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyRequest } from 'fastify';
import { GitHubKeysUnavailable, InvalidRequest, RouteNotFound, SignatureInvalid } from '../http/errors.js';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { clientOf } from '../audit/audit-log.js';
import type { GitHubPublicKeys } from './github-public-keys.js';
import { GITHUB_SCANNER, sha256Hex, type LeakedKeyReports } from './leaked-key-reports.js';
import { StringEnum } from '../http/json-types.js';
import { cutText } from '../../packages/member/src/cut-text.js';

/** Where GitHub posts its reports; the URL a deployer gives GitHub when enrolling. */
export const GITHUB_SECRET_SCANNING_PATH = '/v1/secret-scanning/github';
/** Largest report accepted, in bytes: GitHub batches matches, each a few hundred bytes. */
export const REPORT_BODY_LIMIT_BYTES = 1024 * 1024;
/** Most matches in one report: each well-formed one with a known id costs an argon2 verification. */
export const MAX_REPORT_MATCHES = 1000;

/** The raw body, under a symbol: keyward's root hook that walks parsed bodies never walks these bytes. */
const RAW_BODY = Symbol('keyward.rawBody');
type RawBody = { [RAW_BODY]: Buffer };

const Match = Type.Object({
  token: Type.String({ description: 'The string that matched the pattern of this deployment’s keys.' }),
  type: Type.String({ description: 'The token type name given to GitHub when enrolling.' }),
  url: Type.Optional(Type.String({ description: 'The public URL where it was found (may be empty).' })),
  source: Type.Optional(
    Type.String({ description: 'What it was found in: `content`, `commit`, `issue_comment`, … or `unknown`.' }),
  ),
});
const Report = Type.Array(Match);

const EXAMPLE_URL = 'https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/config.js';
const REPORT_EXAMPLE = [
  { token: EXAMPLE.apiKey, type: 'keyward_api_key', url: EXAMPLE_URL, source: 'commit' },
  // Well-formed, valid checksum, but no such key: a false positive.
  {
    token: 'kw_Zx8Qm2LpT4vNc6Rb_EXAMPLEx0nly0n0tA0real0secret00094Tk65h',
    type: 'keyward_api_key',
    url: '',
    source: 'issue_comment',
  },
];
const FEEDBACK_EXAMPLE = [
  { token_hash: sha256Hex(REPORT_EXAMPLE[0]!.token), token_type: 'keyward_api_key', label: 'true_positive' },
  { token_hash: sha256Hex(REPORT_EXAMPLE[1]!.token), token_type: 'keyward_api_key', label: 'false_positive' },
];

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]; // Node lower-cases header names: the match is case-insensitive
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * GitHub's secret scanning partner endpoint. No session, no CSRF check and no API key: the caller is GitHub,
 * proven by an ECDSA signature over the raw body. Without `github` (not configured) the route answers 404
 * like an unknown route, before reading any body; it stays declared so that every deployment serves the same
 * OpenAPI document.
 */
export const secretScanningRoutes: FastifyPluginAsyncTypebox<{
  github?: { publicKeys: GitHubPublicKeys; reports: LeakedKeyReports };
}> = async (app, { github }) => {
  if (github) {
    // The signature covers the bytes as sent: the body is kept raw here and parsed only once it verified.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, { [RAW_BODY]: body as Buffer } satisfies RawBody);
    });
  }

  app.post(
    GITHUB_SECRET_SCANNING_PATH,
    {
      ...(github
        ? { bodyLimit: REPORT_BODY_LIMIT_BYTES }
        : {
            onRequest: async (request: FastifyRequest) => {
              throw new RouteNotFound(request.method, GITHUB_SECRET_SCANNING_PATH);
            },
          }),
      // The body schema documents the report; it is checked after the signature, on the parsed bytes.
      validatorCompiler: () => () => true,
      schema: {
        operationId: 'reportLeakedKeys',
        summary: 'GitHub secret scanning: keys of this deployment found in public',
        description:
          "GitHub's secret scanning partner endpoint, served only when `KEYWARD_GITHUB_SECRET_SCANNING=on` or " +
          '`KEYWARD_GITHUB_KEYS_URL` is set (404 otherwise). GitHub signs the raw body with ECDSA P-256 / SHA-256 ' +
          '(`Github-Public-Key-Signature`, base64 of DER) with the key named by `Github-Public-Key-Identifier` ' +
          'among those it publishes. Each match that is a key of this deployment (its secret checked, whether ' +
          'active, revoked or expired) is labelled `true_positive`; an active one is revoked on every instance ' +
          'before the answer, audited as `key.leaked` and `key.revoked` by `secret-scanning:github`. A report ' +
          'sent again changes nothing and gets the same answer. Tokens are answered only as their SHA-256.',
        tags: ['secret-scanning'],
        security: [{ githubSignature: [] }],
        headers: Type.Object({
          'github-public-key-identifier': Type.String({
            description: 'The `key_identifier` of the GitHub key that signed the body.',
            examples: ['bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c'],
          }),
          'github-public-key-signature': Type.String({
            description: 'Base64 of the DER ECDSA signature of the raw body.',
            examples: [
              'MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==',
            ],
          }),
        }),
        body: { ...Report, maxItems: MAX_REPORT_MATCHES, examples: [REPORT_EXAMPLE] },
        response: {
          200: Type.Array(
            Type.Object({
              token_hash: Type.String({ description: 'SHA-256 of the token, lowercase hex.' }),
              token_type: Type.String(),
              label: StringEnum(['true_positive', 'false_positive']),
            }),
            { description: 'One feedback entry per match, in order.', examples: [FEEDBACK_EXAMPLE] },
          ),
          ...errors(
            [400, 'invalid_report', 'too_many_matches'],
            [401, 'signature_invalid'],
            [404, 'route_not_found'],
            [413, 'report_too_large'],
            [503, 'github_keys_unavailable', 'revocation_pending', 'service_unavailable'],
          ),
        },
      },
    },
    async (request) => {
      if (!github) throw new RouteNotFound(request.method, GITHUB_SECRET_SCANNING_PATH); // onRequest answered already
      const { publicKeys, reports } = github;
      const raw = (request.body as Partial<RawBody> | undefined)?.[RAW_BODY] ?? Buffer.alloc(0);
      const identifier = header(request, 'github-public-key-identifier');
      const signature = header(request, 'github-public-key-signature');
      if (identifier === undefined || signature === undefined) throw new SignatureInvalid();
      const verdict = await publicKeys.check(identifier, signature, raw);
      if (verdict === 'unavailable') throw new GitHubKeysUnavailable();
      if (verdict !== 'valid') {
        request.log.warn({ keyIdentifier: cutText(identifier, 100), verdict }, 'secret scanning report refused');
        throw new SignatureInvalid();
      }
      const matches = parseReport(raw);
      const feedback = await reports.handle(matches, {
        ...clientOf(request),
        userId: null,
        email: GITHUB_SCANNER,
      });
      const leaked = feedback.filter((entry) => entry.label === 'true_positive').length;
      request.log.info({ matches: matches.length, truePositives: leaked }, 'secret scanning report handled');
      return feedback;
    },
  );
};

/** The report's matches; the parser's own messages are never sent (they quote the body, i.e. tokens). */
function parseReport(raw: Buffer): Array<{ token: string; type: string; url: string; source: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new InvalidRequest('The body must be a JSON array of {token, type, url, source} objects.');
  }
  if (Array.isArray(parsed) && parsed.length > MAX_REPORT_MATCHES) {
    throw new InvalidRequest(
      `A report may carry at most ${MAX_REPORT_MATCHES} matches; this one has ${parsed.length}.`,
    );
  }
  if (!Value.Check(Report, parsed)) {
    throw new InvalidRequest('The body must be a JSON array of {token, type, url, source} objects.');
  }
  return parsed.map((match) => ({
    token: match.token,
    type: match.type,
    url: match.url ?? '',
    source: match.source ?? 'unknown',
  }));
}
