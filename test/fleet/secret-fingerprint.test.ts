import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ConfigError } from '../../src/config/env.js';
import { createFleetServices, startFleetInstance } from '../support/fleet.js';

t.test('a replica with another KEYWARD_SECRET refuses to start, saying so', async (t) => {
  const fleet = await createFleetServices(t);
  await startFleetInstance(t, fleet);
  const error = await startFleetInstance(t, fleet, { KEYWARD_SECRET: randomBytes(32).toString('base64url') }).then(
    () => null,
    (error: unknown) => error,
  );
  t.ok(error instanceof ConfigError);
  t.match(error, { message: /KEYWARD_SECRET differs from the secret this database's fleet runs with/ });
  t.notMatch(String(error), fleet.secret, 'the secret itself is never said');
  await t.resolves(startFleetInstance(t, fleet), 'a replica with the fleet secret starts');
});
