import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorEnvelope } from '../http/error-responses.js';
import { Session } from '../accounts/account-schemas.js';
import { Key } from '../keys/key-schemas.js';
import { HOST_PREFIXED_SESSION_COOKIE, SESSION_COOKIE } from '../accounts/session-auth.js';
import { DASHBOARD_PUBLIC_DIR } from '../dashboard/dashboard-plugin.js';

/** Schemas registered with `addSchema`, so OpenAPI shows them as named components. */
export const sharedSchemas = [ErrorEnvelope, Key, Session];

export const OPENAPI_INFO = {
  title: 'keyward',
  version: '0.1.0',
  description:
    'API keys for horizontally scaled API fleets: at most two active keys per account for zero-downtime ' +
    'rotation, and revocation that is effective on every instance before the call returns.',
  license: { name: 'MIT', identifier: 'MIT' },
};

/** Where the interactive API docs (Swagger UI) are served; `${DOCS_PREFIX}/json` serves the document. */
export const DOCS_PREFIX = '/docs';

/**
 * The docs pages' own Content-Security-Policy: Swagger UI's scripts, styles and the document all come from
 * this origin (the plugin ships them), its logo and icons are data: URLs, and "Try it out" calls this API.
 * Nothing is allowed from anywhere else, inline script included.
 */
export const DOCS_CSP = {
  'default-src': "'none'",
  'script-src': "'self'",
  'script-src-attr': "'none'",
  'style-src': "'self'",
  'img-src': "'self' data:",
  'font-src': "'self' data:",
  'connect-src': "'self'",
  'base-uri': "'none'",
  'form-action': "'self'",
  'frame-ancestors': "'none'",
  'object-src': "'none'",
};

/**
 * keyward's look for Swagger UI: the dashboard's colour variables (light, and dark under
 * prefers-color-scheme) taken from its theme, so there is one palette; then the docs' own rules, and the
 * script that puts the keyward header with the way back to the dashboard above it.
 */
export function docsTheme() {
  const read = (file: string) => readFileSync(join(DASHBOARD_PUBLIC_DIR, file), 'utf8');
  const palette = read('styles/01-theme.css').match(
    /:root\s*\{[^}]*\}|@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{[^}]*\}\s*\}/g,
  );
  if (palette?.length !== 2) throw new Error('keyward docs: styles/01-theme.css has no light and dark :root palette');
  return {
    title: 'keyward API reference',
    css: [
      { filename: 'keyward-colours.css', content: palette.join('\n\n') },
      { filename: 'keyward-docs.css', content: read('docs-theme/docs-theme.css') },
    ],
    js: [{ filename: 'keyward-header.js', content: read('docs-theme/docs-header.js') }],
    favicon: [
      {
        filename: 'favicon.svg',
        rel: 'icon',
        sizes: 'any',
        type: 'image/svg+xml',
        content: readFileSync(join(DASHBOARD_PUBLIC_DIR, 'assets', 'logo.svg')),
      },
    ],
  };
}

type JsonObject = Record<string, unknown>;

/**
 * @fastify/swagger drops every sibling of a `$ref` (as OpenAPI 3.0 required), so a response given as a
 * reference to a shared schema (the error envelope, the session) would lose its `examples`. For the
 * document only (Fastify keeps serialising with the route's own schema), such a response is written in
 * the `content` form, with its examples on the media type: error examples are named after their code.
 */
function refExamplesToContent(response: unknown): unknown {
  const { $ref, examples, description } = (response ?? {}) as JsonObject;
  if (typeof $ref !== 'string' || !Array.isArray(examples) || examples.length === 0) return response;
  const media: JsonObject = { schema: { $ref } };
  const errorOf = (value: unknown) => (value as { error?: { code?: unknown; message?: unknown } }).error;
  if (examples.every((value) => typeof errorOf(value)?.code === 'string')) {
    const named: Record<string, { summary: string; value: unknown }> = {};
    for (const value of examples) {
      const { code, message } = errorOf(value) as { code: string; message: string };
      let name = code;
      for (let n = 2; name in named; n++) name = `${code}_${n}`;
      named[name] = { summary: message, value };
    }
    media.examples = named;
  } else if (examples.length === 1) {
    media.example = examples[0];
  } else {
    media.examples = Object.fromEntries(examples.map((value, i) => [`example${i + 1}`, { value }]));
  }
  const shared = sharedSchemas.find((schema) => schema.$id === $ref);
  return {
    description: description ?? shared?.description ?? 'Default Response',
    content: { 'application/json': media },
  };
}

function transform({ schema, url }: { schema: FastifySchema; url: string }) {
  if (!schema?.response) return { schema, url };
  const response = Object.fromEntries(
    Object.entries(schema.response as JsonObject).map(([status, value]) => [status, refExamplesToContent(value)]),
  );
  return { schema: { ...schema, response }, url };
}

/**
 * Generates the OpenAPI 3.1 document from the routes' own schemas, and serves it with Swagger UI at
 * /docs (assets from the package, same origin; the docs routes are hidden from the document).
 */
export const openapi = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: OPENAPI_INFO,
        tags: [
          { name: 'account', description: 'Sign-up and dashboard sessions' },
          { name: 'keys', description: 'Key lifecycle (dashboard session)' },
          { name: 'data-plane', description: 'Calls authenticated by an API key' },
          { name: 'operations', description: 'Health checks for load balancers and orchestrators' },
        ],
        components: {
          securitySchemes: {
            apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
            sessionCookie: {
              type: 'apiKey',
              in: 'cookie',
              name: SESSION_COOKIE,
              description:
                'The dashboard session, set by sign-up and sign-in, where the cookie is not Secure: the ' +
                'embedded default, or KEYWARD_COOKIE_SECURE=false.',
            },
            secureSessionCookie: {
              type: 'apiKey',
              in: 'cookie',
              name: HOST_PREFIXED_SESSION_COOKIE,
              description:
                'The same session where the cookie is Secure (with DATABASE_URL or NODE_ENV=production, ' +
                'unless KEYWARD_COOKIE_SECURE=false): its name then carries the __Host- prefix, so browsers ' +
                'keep it to HTTPS and this host only. A deployment uses one of the two names.',
            },
            githubSignature: {
              type: 'apiKey',
              in: 'header',
              name: 'Github-Public-Key-Signature',
              description:
                "GitHub's ECDSA P-256 / SHA-256 signature of the raw body (base64 of DER), with the key named by " +
                "the Github-Public-Key-Identifier header among those GitHub publishes. Only GitHub's secret " +
                'scanning endpoint uses it.',
            },
          },
        },
      },
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, index) =>
          typeof json.$id === 'string' ? json.$id : `def-${index}`,
      },
      transform,
    });
    // In its own context, so that these headers are set on the docs' responses only.
    await app.register(async (docs) => {
      docs.addHook('onSend', async (_request, reply) => {
        reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
      });
      await docs.register(swaggerUi, {
        routePrefix: DOCS_PREFIX,
        staticCSP: DOCS_CSP,
        theme: docsTheme(),
        uiConfig: { layout: 'BaseLayout', deepLinking: true, displayOperationId: true, defaultModelsExpandDepth: 1 },
      });
    });
  },
  { name: 'keyward-openapi' },
);
