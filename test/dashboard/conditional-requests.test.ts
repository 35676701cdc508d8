import t from 'tap';
import { buildTestApp } from '../support/app.js';

/*
 * If-None-Match is parsed by hand in src/dashboard/dashboard-plugin.ts (matchesEtag): a table of RFC 9110
 * §13.1.2 cases (a list of entity tags, weak comparison, "*", optional whitespace around commas, commas
 * inside a tag, tags compared case-sensitively) holds it to the spec, through the dashboard's own files.
 */

t.test('If-None-Match answers 304 exactly when RFC 9110 says the tag matches', async (t) => {
  const { app } = await buildTestApp(t);
  const get = (headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: '/assets/format.js', headers });
  const etag = (await get()).headers.etag as string;
  t.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const bare = etag.slice(1, -1);
  const cases: Array<[ifNoneMatch: string, status: 200 | 304]> = [
    [etag, 304],
    [`W/${etag}`, 304], // weak comparison: W/ is ignored
    [`"other", ${etag}`, 304],
    [`"other" ,W/${etag}`, 304], // optional whitespace around the comma
    [`"a,b", ${etag}`, 304], // a comma inside another tag
    [`${etag},`, 304], // an empty list element (RFC 9110 §5.6.1: to be ignored)
    ['*', 304],
    ['"other"', 200],
    [`"${bare}x"`, 200],
    [bare, 200], // not quoted: not an entity tag
    [`w/${etag}`, 200], // "W/" is case-sensitive
    [`"${bare.toUpperCase() === bare ? bare.toLowerCase() : bare.toUpperCase()}"`, 200], // tags are case-sensitive
    [`"${bare}`, 200],
    ['', 200],
  ];
  for (const [ifNoneMatch, status] of cases) {
    const response = await get({ 'if-none-match': ifNoneMatch });
    t.equal(response.statusCode, status, `If-None-Match: ${ifNoneMatch}`);
    if (status === 304) t.equal(response.body, '', 'no body');
  }
});
