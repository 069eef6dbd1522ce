/*
 * redis.h -- connections to Redis from [redis] (with its key prefix; the
 * names are keys.h's), Lua scripts run by SHA with a reload when Redis
 * forgot them, and the eviction policy check.  Knows Redis, not jobs.
 */
#ifndef PMQ_REDIS_H
#define PMQ_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "config.h"
#include "errors.h"

/* The longest [redis] key_prefix: keys.h derives its key sizes from it. */
#define PMQ_KEY_PREFIX_MAX 128

typedef struct pmq_redis {
    redisContext *c;
    const pmq_redis_config *cfg; /* borrowed */
    char *prefix;                /* cfg->key_prefix or "" */
} pmq_redis;

/* A Lua script; `sha` is filled on first use. */
typedef struct pmq_script {
    const char *source;
    char sha[41];
} pmq_script;

/*
 * Connect (AUTH, SELECT); NULL after adding the reason to `errs` (also when
 * key_prefix is longer than PMQ_KEY_PREFIX_MAX).
 */
pmq_redis *pmq_redis_connect(const pmq_config *cfg, pmq_errors *errs);
/* Drop and re-open the connection; 0 on success. */
int pmq_redis_reconnect(pmq_redis *r);
void pmq_redis_free(pmq_redis *r);

/*
 * EVALSHA `script` with the given keys and args (binary-safe), loading it
 * when Redis does not know it.  Returns the reply (caller frees) or NULL on a
 * connection error; a script error comes back as a REDIS_REPLY_ERROR.
 */
redisReply *pmq_redis_eval(pmq_redis *r, pmq_script *script, int nkeys, const char **keys,
                           int nargs, const char **args, const size_t *arglens);

/*
 * Pipeline EVALSHA of `script` (the args are strings): the script must be
 * loaded (pmq_redis_load_script), and the caller reads the reply.
 */
void pmq_redis_append_eval(pmq_redis *r, const pmq_script *script, int nkeys, const char **keys,
                           int nargs, const char **args);

/* SCRIPT LOAD `s`, filling in its SHA; -1 on a connection error or a refusal (logged). */
int pmq_redis_load_script(pmq_redis *r, pmq_script *s);

/* Run a command; NULL on a connection error (and logs it). */
redisReply *pmq_redis_command(pmq_redis *r, const char *fmt, ...);

/*
 * Run a command whose reply does not matter; -1 on a connection error (and
 * logs it), else 0.  An error reply (WRONGTYPE, READONLY) still returns 0:
 * use pmq_redis_command() to look at the reply.
 */
int pmq_redis_do(pmq_redis *r, const char *fmt, ...);

/*
 * Read the replies to `n` pipelined commands.  Returns how many were error
 * replies (READONLY after a failover, OOM, WRONGTYPE), logging the first
 * with `what`, or -1 on a connection error (logged too; reconnect).
 */
int pmq_redis_replies(pmq_redis *r, size_t n, const char *what);

/*
 * Refuse a Redis that may evict keys (any maxmemory-policy but noeviction):
 * queued jobs would vanish.  Returns 0 when safe.
 */
int pmq_redis_check_eviction(pmq_redis *r, pmq_errors *errs);

/* Redis 6.2 (as major * 100 + minor): LMOVE, which the claim script uses. */
#define PMQ_REDIS_MIN_VERSION 602

/* The redis_version in INFO's text as major * 100 + minor, or -1 when absent. */
int pmq_redis_info_version(const char *info);

/*
 * Refuse a Redis older than PMQ_REDIS_MIN_VERSION.  Returns 0 when new
 * enough, or when INFO does not say (a warning is logged).
 */
int pmq_redis_check_version(pmq_redis *r, pmq_errors *errs);

/* Describe where [redis] points, for messages ("unix:/x/redis.sock"). */
char *pmq_redis_describe(const pmq_redis_config *cfg);

#endif /* PMQ_REDIS_H */
