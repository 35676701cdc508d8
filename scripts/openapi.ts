/**
 * `write`: regenerates openapi/openapi.json from the routes' schemas.
 * `check`: exits 1 when the committed file differs from what the code generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { generateOpenApiDocument, OPENAPI_PATH } from '../src/app/openapi-document.js';

const mode = process.argv[2];
const generated = await generateOpenApiDocument();
if (mode === 'write') {
  writeFileSync(OPENAPI_PATH, generated);
  console.log(`wrote ${OPENAPI_PATH}`);
} else if (mode === 'check') {
  const committed = readFileSync(OPENAPI_PATH, 'utf8');
  if (committed !== generated) {
    console.error(`${OPENAPI_PATH} is out of date with the code: run \`npm run openapi\` and commit the result.`);
    process.exit(1);
  }
  console.log(`${OPENAPI_PATH} matches the code`);
} else {
  console.error('usage: openapi.ts write|check');
  process.exit(2);
}
