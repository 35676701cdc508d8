/** Validates the committed openapi/openapi.json (see scripts/openapi-validation.ts); exits 1 when it is invalid. */
import { readFileSync } from 'node:fs';
import { OPENAPI_PATH } from '../src/app/openapi-document.js';
import { validateOpenApiDocument } from './openapi-validation.js';

const { errors, warnings } = await validateOpenApiDocument(JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')));
for (const warning of warnings) console.warn(`warning: ${warning}`);
for (const error of errors) console.error(`error: ${error}`);
if (errors.length > 0) {
  console.error(`${OPENAPI_PATH} is not a valid OpenAPI 3.1 document (${errors.length} errors)`);
  process.exit(1);
}
console.log(`${OPENAPI_PATH} is valid OpenAPI 3.1 (${warnings.length} warnings)`);
