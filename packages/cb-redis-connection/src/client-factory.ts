import { Redis, type RedisOptions } from 'ioredis';

/** The options the manager gives ioredis (RESP2-shaped replies on ioredis 5 and 6). */
export type ClientOptions = RedisOptions & { replyMapping?: 'legacy' };

/** Makes the ioredis client of one connection. */
export type CreateClient = (options: ClientOptions) => Redis;

/**
 * Key of an option that replaces how clients are made. Not exported from the package: the unit tests
 * pass a scripted fake client under it to test the manager's rules on fake timers. A symbol, so
 * `Object.keys` (and so option validation) never sees it.
 * @internal
 */
export const CREATE_CLIENT: unique symbol = Symbol('@xnai/cb-redis-connection/create-client');

/** The real thing. */
export const createIoredisClient: CreateClient = (options) => new Redis(options);
