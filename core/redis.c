/*
 * redis.c -- Redis connections and Lua scripts (see redis.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "redis.h"
#include "util.h"

char *pmq_redis_describe(const pmq_redis_config *cfg)
{
    if (cfg->socket && *cfg->socket)
        return pmq_asprintf("unix:%s", cfg->socket);
    return pmq_asprintf("%s:%d", cfg->host ? cfg->host : "127.0.0.1", cfg->port);
}

static redisContext *open_context(const pmq_redis_config *cfg, char **why)
{
    struct timeval tv = {cfg->timeout_ms / 1000, (cfg->timeout_ms % 1000) * 1000};
    redisContext *c;
    if (cfg->socket && *cfg->socket)
        c = redisConnectUnixWithTimeout(cfg->socket, tv);
    else
        c = redisConnectWithTimeout(cfg->host ? cfg->host : "127.0.0.1", cfg->port, tv);
    if (!c || c->err) {
        *why = pmq_xstrdup(c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (!(cfg->socket && *cfg->socket))
        redisEnableKeepAlive(c); /* TCP only: a Unix socket refuses it */
    redisReply *rep = NULL;
    if (cfg->password && *cfg->password) {
        rep = redisCommand(c, "AUTH %s", cfg->password);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            *why = pmq_asprintf("authentication failed: %s", rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    if (cfg->db) {
        rep = redisCommand(c, "SELECT %d", cfg->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            *why = pmq_asprintf("could not select database %d: %s", cfg->db,
                                rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    return c;
fail:
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return NULL;
}

pmq_redis *pmq_redis_connect(const pmq_config *cfg, pmq_errors *errs)
{
    const char *prefix = cfg->redis.key_prefix ? cfg->redis.key_prefix : "";
    if (strlen(prefix) > PMQ_KEY_PREFIX_MAX) {
        pmq_error *e = pmq_errors_add(errs, "[redis] key_prefix is too long (%zu bytes)",
                                      strlen(prefix));
        pmq_error_detail(e, "A key prefix has at most %d bytes.", PMQ_KEY_PREFIX_MAX);
        return NULL;
    }
    char *why = NULL;
    redisContext *c = open_context(&cfg->redis, &why);
    if (!c) {
        char *where = pmq_redis_describe(&cfg->redis);
        pmq_errors_add(errs, "could not connect to Redis at \"%s\": %s", where, why);
        free(where);
        free(why);
        return NULL;
    }
    pmq_redis *r = pmq_xcalloc(1, sizeof *r);
    r->c = c;
    r->cfg = &cfg->redis;
    r->prefix = pmq_xstrdup(prefix);
    return r;
}

int pmq_redis_reconnect(pmq_redis *r)
{
    char *why = NULL;
    redisContext *c = open_context(r->cfg, &why);
    if (!c) {
        log_debug("redis reconnect failed: %s", why);
        free(why);
        return -1;
    }
    redisFree(r->c);
    r->c = c;
    return 0;
}

void pmq_redis_free(pmq_redis *r)
{
    if (!r)
        return;
    redisFree(r->c);
    free(r->prefix);
    free(r);
}

static redisReply *vcommand(pmq_redis *r, const char *fmt, va_list ap)
{
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    if (!rep)
        log_warning("redis: %s", r->c->errstr[0] ? r->c->errstr : "connection lost");
    return rep;
}

redisReply *pmq_redis_command(pmq_redis *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vcommand(r, fmt, ap);
    va_end(ap);
    return rep;
}

int pmq_redis_do(pmq_redis *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vcommand(r, fmt, ap);
    va_end(ap);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

int pmq_redis_replies(pmq_redis *r, size_t n, const char *what)
{
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
            log_warning("redis: could not %s: %s", what,
                        r->c->errstr[0] ? r->c->errstr : "connection lost");
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR && errors++ == 0)
            log_warning("redis: could not %s: %s", what, rep->str);
        freeReplyObject(rep);
    }
    return errors;
}

int pmq_redis_load_script(pmq_redis *r, pmq_script *s)
{
    redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", s->source);
    if (!rep)
        return -1;
    int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
    if (ok)
        memcpy(s->sha, rep->str, 41);
    else
        log_error("redis: could not load a script: %s",
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/*
 * EVALSHA's argv for `script` (its SHA filled in by the caller), keys and
 * args; `lens` NULL: the args are strings.  The caller frees both arrays.
 */
static size_t eval_argv(int nkeys, const char **keys, int nargs, const char **args,
                        const size_t *arglens, char *nk, const char ***argv, size_t **lens)
{
    size_t argc = 3 + (size_t)nkeys + (size_t)nargs;
    const char **v = pmq_xmalloc(argc * sizeof *v);
    size_t *l = pmq_xmalloc(argc * sizeof *l);
    snprintf(nk, 16, "%d", nkeys);
    v[0] = "EVALSHA", l[0] = 7;
    v[1] = NULL, l[1] = 40;
    v[2] = nk, l[2] = strlen(nk);
    for (int i = 0; i < nkeys; i++)
        v[3 + i] = keys[i], l[3 + i] = strlen(keys[i]);
    for (int i = 0; i < nargs; i++)
        v[3 + nkeys + i] = args[i], l[3 + nkeys + i] = arglens ? arglens[i] : strlen(args[i]);
    *argv = v;
    *lens = l;
    return argc;
}

redisReply *pmq_redis_eval(pmq_redis *r, pmq_script *script, int nkeys, const char **keys,
                           int nargs, const char **args, const size_t *arglens)
{
    const char **argv;
    size_t *lens;
    char nk[16];
    size_t argc = eval_argv(nkeys, keys, nargs, args, arglens, nk, &argv, &lens);

    redisReply *rep = NULL;
    for (int tries = 0; tries < 2; tries++) {
        if (!script->sha[0] && pmq_redis_load_script(r, script) < 0)
            break;
        argv[1] = script->sha;
        rep = redisCommandArgv(r->c, (int)argc, argv, lens);
        if (rep && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
            /* Redis restarted or its script cache was flushed. */
            freeReplyObject(rep);
            rep = NULL;
            script->sha[0] = '\0';
            continue;
        }
        break;
    }
    free(argv);
    free(lens);
    return rep;
}

void pmq_redis_append_eval(pmq_redis *r, const pmq_script *script, int nkeys, const char **keys,
                           int nargs, const char **args)
{
    const char **argv;
    size_t *lens;
    char nk[16];
    size_t argc = eval_argv(nkeys, keys, nargs, args, NULL, nk, &argv, &lens);
    argv[1] = script->sha;
    redisAppendCommandArgv(r->c, (int)argc, argv, lens);
    free(argv);
    free(lens);
}

int pmq_redis_info_version(const char *info)
{
    const char *v = info ? strstr(info, "redis_version:") : NULL;
    int major, minor;
    if (!v || sscanf(v + strlen("redis_version:"), "%d.%d", &major, &minor) != 2)
        return -1;
    return major * 100 + minor;
}

int pmq_redis_check_version(pmq_redis *r, pmq_errors *errs)
{
    redisReply *rep = redisCommand(r->c, "INFO server");
    if (!rep) {
        pmq_errors_add(errs, "could not read Redis' version: %s", r->c->errstr);
        return -1;
    }
    int version = rep->type == REDIS_REPLY_STRING ? pmq_redis_info_version(rep->str) : -1;
    int rc = 0;
    if (version < 0) {
        /* INFO may be renamed away on managed Redis: say so, do not refuse. */
        log_warning("could not read Redis' version (%s); pmq needs Redis 6.2 or later",
                    rep->type == REDIS_REPLY_ERROR ? rep->str : "no redis_version in INFO");
    } else if (version < PMQ_REDIS_MIN_VERSION) {
        pmq_error *e = pmq_errors_add(errs, "Redis %d.%d is too old: pmq needs 6.2 or later",
                                      version / 100, version % 100);
        pmq_error_detail(e, "Workers claim jobs with LMOVE, which came in Redis 6.2.");
        pmq_error_hint(e, "Upgrade Redis, or point [redis] at a newer server.");
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

int pmq_redis_check_eviction(pmq_redis *r, pmq_errors *errs)
{
    redisReply *rep = redisCommand(r->c, "CONFIG GET maxmemory-policy");
    if (!rep) {
        pmq_errors_add(errs, "could not read Redis' maxmemory-policy: %s", r->c->errstr);
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_STRING) {
        const char *policy = rep->element[1]->str;
        if (strcmp(policy, "noeviction") != 0) {
            pmq_error *e = pmq_errors_add(
                errs, "Redis may evict keys (maxmemory-policy \"%s\"): queued jobs could vanish",
                policy);
            pmq_error_detail(e, "pmq keeps ready jobs in Redis lists; an evicting policy "
                                "drops them when memory runs short.");
            pmq_error_hint(e, "Set \"maxmemory-policy noeviction\" in redis.conf "
                              "(or CONFIG SET maxmemory-policy noeviction).");
            rc = -1;
        }
    } else {
        /* CONFIG may be renamed away on managed Redis: say so, do not refuse. */
        log_warning("could not check Redis' maxmemory-policy (%s); make sure it is noeviction",
                    rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}
