/*
 * entry.h -- the job entry: the JSON a job travels as through Redis (the
 * guide's RedisJobPayload, "id" first), written by the migrator and read by
 * workers and recovery.  Reading takes the members at the top level without
 * decoding the payload, which a handler gets as text.  Knows JSON and the
 * entry's members, not Redis or PostgreSQL.
 */
#ifndef PMQ_ENTRY_H
#define PMQ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* What the migrator knows of a job when it pushes it. */
typedef struct pmq_entry_job {
    const char *id;
    const char *queue;
    int priority;
    const char *payload; /* a JSON object's text */
    int64_t created_us;  /* microseconds since the epoch */
    int attempt_count;   /* attempts already finished */
    int max_attempts;
    const char *tenant; /* or NULL */
} pmq_entry_job;

/*
 * Write `job`'s entry into buf (grown with realloc as needed; *cap is its
 * size).  Returns the entry's length.
 */
size_t pmq_entry_write(char **buf, size_t *cap, const pmq_entry_job *job);

/* An entry read back. */
typedef struct pmq_entry {
    char id[PMQ_JOB_ID_SIZE];
    char *queue;         /* owned */
    int priority;        /* 100 when absent */
    int attempt_count;   /* 0 when absent */
    int max_attempts;    /* 1 when absent */
    char *tenant;        /* owned, or NULL */
    int64_t created_us;  /* 0 when absent or unreadable */
    const char *payload; /* borrowed from the entry's text: the payload's JSON */
    size_t payload_len;
} pmq_entry;

/*
 * Read `text` into *e.  Returns 0, or -1 when it is not an entry pmq wrote
 * (not a JSON object; no id, queue_name or payload), with nothing to free.
 * The payload is found, not validated: whoever decodes it does that.
 */
int pmq_entry_read(const char *text, pmq_entry *e);
void pmq_entry_clear(pmq_entry *e);

/*
 * The id inside a job entry (its first member), into id[PMQ_JOB_ID_SIZE], read as the
 * claim script reads it: the field under which a claim records the entry in
 * pmq:active:<worker>.  -1 when it has none, or one that does not fit.
 */
int pmq_entry_id(const char *text, char id[PMQ_JOB_ID_SIZE]);

/*
 * Where the value of the entry's top-level "payload" member is: its first
 * byte, and its length in `*len`.  NULL when the entry is not a JSON object
 * with one.
 */
const char *pmq_entry_payload(const char *text, size_t *len);

#endif /* PMQ_ENTRY_H */
