/**
 * The least a fleet member may do in Redis: listen to key events, its own
 * heartbeat echoes and member revocations, and publish acknowledgements. It
 * can read no key and write none (not the hot set, not the registry), and
 * cannot publish key events: the selector in parentheses allows SUBSCRIBE, and
 * only SUBSCRIBE, on those channels; the root rules allow PUBLISH only on acks.
 *
 * Returns the arguments of `ACL SETUSER` (Redis 7 or later), for the deployment's REDIS_KEY_PREFIX.
 */
export function memberAclRules(redisKeyPrefix: string, user: string, password: string): string[] {
  return [
    user,
    'reset',
    'on',
    `>${password}`,
    '-@all',
    '+ping',
    '+client|setname',
    '+publish',
    `&${redisKeyPrefix}acks:*`,
    `(+subscribe &${redisKeyPrefix}key-events &${redisKeyPrefix}echo:member.* &${redisKeyPrefix}member-revocations)`,
  ];
}

/** The rules as one line for redis-cli (each argument quoted). */
export function memberAclCommand(redisKeyPrefix: string, user: string, password: string): string {
  return ['ACL', 'SETUSER', ...memberAclRules(redisKeyPrefix, user, password)].map((arg) => `'${arg}'`).join(' ');
}
