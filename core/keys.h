/*
 * keys.h -- pmq's Redis layout (DESIGN.md section 4) in one place: every key
 * name, the priority bands, the workers' heartbeats, and the Lua scripts
 * (lua/NAME.lua, embedded at build time).  Nothing else spells a key; this
 * module knows names and shapes, not what the roles do with them.
 */
#ifndef PMQ_KEYS_H
#define PMQ_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "redis.h"

/*
 * A worker id is "<host_id>:<pid>:<pool>" (supervisor.c); its longest key
 * is pmq:active:<worker>, longer than any queue's or job's key.
 */
#define PMQ_WORKER_ID_SIZE 256
#define PMQ_KEY_MAX (PMQ_KEY_PREFIX_MAX + sizeof "pmq:active:" + PMQ_WORKER_ID_SIZE)

/*
 * Each builder writes "<prefix><name>" into `key` (PMQ_KEY_MAX bytes) and
 * returns it.  `prefix` is [redis] key_prefix (pmq_redis's prefix).  With an
 * empty last part, a builder gives the head that a script or a SCAN
 * completes ("<prefix>job:").
 */

/* queue:<q>:high, queue:<q>, queue:<q>:low: a queue's ready jobs, one list per band. */
char *pmq_key_queue(char *key, const char *prefix, const char *queue, int band);
/* job:<id>: a job's real-time status hash. */
char *pmq_key_job(char *key, const char *prefix, const char *id);
/* pmq:active:<worker>: the jobs a worker holds (job id -> entry). */
char *pmq_key_active(char *key, const char *prefix, const char *worker_id);
/* pmq:worker:<worker>: a worker's heartbeat hash, with a TTL. */
char *pmq_key_heartbeat(char *key, const char *prefix, const char *worker_id);
/* pmq:workers: the set of workers that announced a heartbeat. */
char *pmq_key_workers(char *key, const char *prefix);
/* pmq:wake:<q>: the wake-up signal of a queue's blocked workers. */
char *pmq_key_wake(char *key, const char *prefix, const char *queue);
/* pmq:paused: the set of paused queue names. */
char *pmq_key_paused(char *key, const char *prefix);
/* pmq:stats:<q>: a queue's counters and histograms (ack.c, metrics.c). */
char *pmq_key_stats(char *key, const char *prefix, const char *queue);
/* pmq:stats:migrator: the migrator's batch counters. */
char *pmq_key_migrator_stats(char *key, const char *prefix);
/* deadletter:queue: the newest dead letters, in the guide's shape. */
char *pmq_key_deadletter_list(char *key, const char *prefix);
/* deadletter:<id>: one dead letter, for a replay. */
char *pmq_key_deadletter(char *key, const char *prefix, const char *id);
/* pmq:alive: the sentinel whose absence says Redis lost its data. */
char *pmq_key_alive(char *key, const char *prefix);

/*--- bands ---*/

/* The priority bands, claimed in this order. */
enum { PMQ_BAND_HIGH, PMQ_BAND_NORMAL, PMQ_BAND_LOW, PMQ_NBANDS };

/* The band of a priority: high (<= 50), normal (<= 150), low. */
int pmq_band_of(int priority);
/* "high", "normal", "low": a band's name in pmqctl and /metrics. */
const char *pmq_band_name(int band);

/*--- heartbeats ---*/

/* What a worker's heartbeat says (pmq:worker:<worker>). */
typedef struct pmq_heartbeat {
    char *host;
    int pid;
    char *pool;
    char *queues;         /* comma-separated */
    int64_t started_at_ms;
    int64_t beat_at_ms;
    char *current;        /* ids of the jobs running, comma-separated */
} pmq_heartbeat;

/*
 * Record `hb` for `worker_id`, living `ttl_ms`, and list the worker in
 * pmq:workers (one pipeline).  Returns pmq_redis_replies()'s count: 0 when
 * Redis has it, -1 on a connection error.
 */
int pmq_heartbeat_write(pmq_redis *r, const char *worker_id, const pmq_heartbeat *hb,
                        int ttl_ms);
/* Remove `worker_id`'s heartbeat and its pmq:workers entry; -1 on a connection error. */
int pmq_heartbeat_remove(pmq_redis *r, const char *worker_id);
/* Drop `worker_id` from pmq:workers (once its claims were recovered). */
int pmq_heartbeat_unlist(pmq_redis *r, const char *worker_id);
/* SMEMBERS pmq:workers: the reply (caller frees), or NULL on a connection error. */
redisReply *pmq_heartbeat_members(pmq_redis *r);
/*
 * Set alive[i] to 1 when ids[i]'s heartbeat lives, 0 when it expired (one
 * pipeline).  Returns 0, or -1 on a connection error or an error reply.
 */
int pmq_heartbeat_alive(pmq_redis *r, const char *const *ids, size_t n, int *alive);
/* 1 when `worker_id` beats or is listed in pmq:workers, 0 if not, -1 on an error. */
int pmq_heartbeat_known(pmq_redis *r, const char *worker_id);
/*
 * Read `worker_id`'s heartbeat into *hb (pmq_heartbeat_clear() frees it).
 * Returns 1, 0 when it expired, -1 on an error.
 */
int pmq_heartbeat_read(pmq_redis *r, const char *worker_id, pmq_heartbeat *hb);
void pmq_heartbeat_clear(pmq_heartbeat *hb);

/*--- scripts (lua/NAME.lua, each opening with its KEYS/ARGV contract) ---*/

extern const char pmq_lua_claim[];
extern const char pmq_lua_return[];
extern const char pmq_lua_push[];
extern const char pmq_lua_settle[];
extern const char pmq_lua_deadletter[];

#endif /* PMQ_KEYS_H */
