/**
 * `write`: regenerates clients/typescript/keyward.d.ts from openapi/openapi.json.
 * `check`: exits 1 when the committed client differs from what the committed spec generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CLIENT_TYPES_PATH, generateClientTypes } from './typescript-client.js';

const mode = process.argv[2];
const generated = await generateClientTypes();
if (mode === 'write') {
  writeFileSync(CLIENT_TYPES_PATH, generated);
  console.log(`wrote ${CLIENT_TYPES_PATH}`);
} else if (mode === 'check') {
  let committed = '';
  try {
    committed = readFileSync(CLIENT_TYPES_PATH, 'utf8');
  } catch {
    // missing: reported as stale below
  }
  if (committed !== generated) {
    console.error(
      `${CLIENT_TYPES_PATH} is out of date with openapi/openapi.json: run \`npm run client\` and commit it.`,
    );
    process.exit(1);
  }
  console.log(`${CLIENT_TYPES_PATH} matches openapi/openapi.json`);
} else {
  console.error('usage: client.ts write|check');
  process.exit(2);
}
