// The guarded driver's types are those of the release it was copied from (README.md beside this file).
import postgres from 'postgres';
export default postgres;
