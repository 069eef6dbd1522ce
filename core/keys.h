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
 * A key is the prefix, a fixed head ("pmq:active:"), then a worker id, a
 * queue name (with its band) or a job id; a worker id is the longest of
 * those: "<host_id>:<pid>:<pool>" (supervisor.c).  keys.c checks that each
 * name fits.
 */
#define PMQ_WORKER_ID_SIZE 256
#define PMQ_KEY_HEAD_MAX 16
#define PMQ_KEY_MAX (PMQ_KEY_PREFIX_MAX + PMQ_KEY_HEAD_MAX + PMQ_WORKER_ID_SIZE)

/* The keys of DESIGN.md section 4, by kind; keys.c spells their names. */
typedef enum pmq_key_kind {
    PMQ_KEY_JOB,             /* job:<id>: a job's real-time status hash */
    PMQ_KEY_ACTIVE,          /* pmq:active:<worker>: the jobs a worker holds (id -> entry) */
    PMQ_KEY_HEARTBEAT,       /* pmq:worker:<worker>: a worker's heartbeat hash, with a TTL */
    PMQ_KEY_WORKERS,         /* pmq:workers: the workers that announced a heartbeat */
    PMQ_KEY_WAKE,            /* pmq:wake:<q>: the wake-up list of a queue's idle workers */
    PMQ_KEY_PAUSED,          /* pmq:paused: the set of paused queue names */
    PMQ_KEY_STATS,           /* pmq:stats:<q>: a queue's counters and histograms */
    PMQ_KEY_MIGRATOR_STATS,  /* pmq:stats:migrator: the migrator's batch counters */
    PMQ_KEY_DEADLETTER,      /* deadletter:<id>: one dead letter, for a replay */
    PMQ_KEY_DEADLETTER_LIST, /* deadletter:queue: the newest dead letters, the guide's shape */
    PMQ_KEY_ALIVE,           /* pmq:alive: the sentinel whose absence says Redis lost its data */
} pmq_key_kind;

/*
 * Write "<prefix><kind's head><name>" into `key` (PMQ_KEY_MAX bytes) and
 * return it.  `prefix` is [redis] key_prefix (pmq_redis's prefix); `name`
 * is NULL for the kinds that have none.  With an empty name, the head that
 * a script or a SCAN completes ("<prefix>job:").
 */
char *pmq_key(char *key, const char *prefix, pmq_key_kind kind, const char *name);

/* queue:<q>:high, queue:<q>, queue:<q>:low: a queue's ready jobs, one list per band. */
char *pmq_key_queue(char *key, const char *prefix, const char *queue, int band);

#define pmq_key_job(key, prefix, id) pmq_key(key, prefix, PMQ_KEY_JOB, id)
#define pmq_key_active(key, prefix, worker_id) pmq_key(key, prefix, PMQ_KEY_ACTIVE, worker_id)
#define pmq_key_heartbeat(key, prefix, worker_id) pmq_key(key, prefix, PMQ_KEY_HEARTBEAT, worker_id)
#define pmq_key_workers(key, prefix) pmq_key(key, prefix, PMQ_KEY_WORKERS, NULL)
#define pmq_key_wake(key, prefix, queue) pmq_key(key, prefix, PMQ_KEY_WAKE, queue)
#define pmq_key_paused(key, prefix) pmq_key(key, prefix, PMQ_KEY_PAUSED, NULL)
#define pmq_key_stats(key, prefix, queue) pmq_key(key, prefix, PMQ_KEY_STATS, queue)
#define pmq_key_migrator_stats(key, prefix) pmq_key(key, prefix, PMQ_KEY_MIGRATOR_STATS, NULL)
#define pmq_key_deadletter(key, prefix, id) pmq_key(key, prefix, PMQ_KEY_DEADLETTER, id)
#define pmq_key_deadletter_list(key, prefix) pmq_key(key, prefix, PMQ_KEY_DEADLETTER_LIST, NULL)
#define pmq_key_alive(key, prefix) pmq_key(key, prefix, PMQ_KEY_ALIVE, NULL)

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
    const char *host;
    int pid;
    const char *pool;
    const char *queues;   /* comma-separated */
    int64_t started_at_ms;
    int64_t beat_at_ms;
    const char *current;  /* ids of the jobs running, comma-separated */
    redisReply *reply;    /* what pmq_heartbeat_read() read: owns the strings */
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
