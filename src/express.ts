/**
 * `keyward/express`: middleware over the framework-neutral checker.
 *
 *   const checker = await openApiKeyChecker({ databaseUrl, redisUrl, secret });
 *   app.get('/orders', apiKeyMiddleware(checker), (req, res) => res.json({ account: req.apiKey?.accountId }));
 */
export { apiKeyMiddleware, type KeyCheckedRequest, type NextFunction } from './library/express.js';
export * from './index.js';
