/*
 * supervisor.c -- pmqd's master process (see supervisor.h).
 *
 * Like Postfix's master: it forks, watches and restarts; all job work
 * happens in children, and the master opens no PostgreSQL or Redis
 * connection (what it needs checked or released runs in a short-lived
 * child, errand.h).  It also enforces handler timeouts, because a hung
 * handler cannot be trusted to notice its own: each worker thread publishes
 * the job it runs and its deadline in shared memory, and the supervisor
 * kills the process that passes one.  A child that dies is replaced at once,
 * or throttled when it died before it served (Postfix's use_count), and the
 * replacement first releases what its predecessor held, charging an attempt
 * only to the jobs that were really running.  A reload starts a new
 * generation of children; the old one's entries and configuration are freed
 * once its children have ended.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errand.h"
#include "errors.h"
#include "http.h"
#include "log.h"
#include "maintenance.h"
#include "migrator.h"
#include "recovery.h"
#include "served.h"
#include "supervisor.h"
#include "util.h"
#include "worker.h"

typedef enum { ROLE_MIGRATOR, ROLE_MAINTENANCE, ROLE_HTTP, ROLE_WORKER } role;

/* The memory a child shares with the master. */
typedef struct child_shared {
    volatile int served;     /* set by pmq_served() (roles other than workers) */
    pmq_worker_slot slots[]; /* ROLE_WORKER: one per thread */
} child_shared;

typedef struct child {
    role role;
    const pmq_config *cfg;       /* the generation it belongs to */
    const pmq_pool_config *pool; /* ROLE_WORKER */
    int index;                   /* process number within the pool */
    pid_t pid;                   /* 0 when not running */
    char worker_id[PMQ_WORKER_ID_SIZE];
    child_shared *shared;        /* NULL when it could not be mapped */
    size_t shared_size;
    pmq_worker_slot *slots;      /* ROLE_WORKER: shared->slots, or NULL */
    int64_t started_ms;
    int64_t restart_at_ms;       /* when to start it again */
    int64_t throttle_ms;         /* current back-off */
    int retiring;                /* old generation: do not restart */
    int disabled;                /* configuration error: wait for a reload */
    char timed_out[PMQ_JOB_ID_SIZE];          /* job we killed it for, or "" */
    int64_t killed_ms;           /* when we killed it for that job */
    pmq_death_note note;         /* for the replacement (ROLE_WORKER) */
    int has_note;
} child;

static volatile int child_stopping; /* in a child: SIGTERM received */

static child *children;
static size_t nchildren, capchildren;
/* Configurations loaded by reloads (not the one pmq_supervisor_run() borrows). */
static pmq_config **configs;
static size_t nconfigs;

static int threads(const child *c)
{
    return c->pool->threads > 0 ? c->pool->threads : 1;
}

static const char *role_name(const child *c)
{
    return c->role == ROLE_MIGRATOR      ? "migrator"
           : c->role == ROLE_MAINTENANCE ? "maintenance"
           : c->role == ROLE_HTTP        ? "http"
                                         : "worker";
}

static void on_child_term(int sig)
{
    (void)sig;
    child_stopping = 1;
}

/*--- starting children ---*/

/* "<host_id>:<pid>:<pool>", as the master and the worker itself both call it. */
static void name_worker(child *c, pid_t pid)
{
    snprintf(c->worker_id, sizeof c->worker_id, "%s:%d:%s", c->cfg->daemon.host_id, (int)pid,
             c->pool->name);
}

static pid_t start_child(child *c)
{
    /* What tells served() that this process served: its word, or a job id in a slot. */
    if (c->shared)
        c->shared->served = 0;
    for (int i = 0; c->slots && i < threads(c); i++)
        c->slots[i].job_id[0] = '\0';
    pid_t pid = fork();
    if (pid < 0) {
        log_error("could not fork a %s: %s", role_name(c), strerror(errno));
        return -1;
    }
    if (pid > 0) {
        c->pid = pid;
        c->started_ms = pmq_now_ms();
        if (c->role == ROLE_WORKER)
            name_worker(c, pid);
        return pid;
    }

    /* The child: default signals, SIGTERM drains, the parent's death too. */
    struct sigaction sa = {0};
    sa.sa_handler = on_child_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (c->shared)
        pmq_served_attach(&c->shared->served);

    int rc;
    switch (c->role) {
    case ROLE_MIGRATOR:
        rc = pmq_migrator_main(c->cfg, &child_stopping);
        break;
    case ROLE_MAINTENANCE:
        rc = pmq_maintenance_main(c->cfg, &child_stopping);
        break;
    case ROLE_HTTP:
        rc = pmq_http_main(c->cfg, &child_stopping);
        break;
    default: {
        name_worker(c, getpid());
        pmq_worker_args args = {c->cfg, c->pool, c->worker_id, c->slots,
                                c->has_note ? &c->note : NULL, &child_stopping};
        rc = pmq_worker_main(&args);
        break;
    }
    }
    _exit(rc);
}

static child *add_child(role r, const pmq_config *cfg, const pmq_pool_config *pool, int index)
{
    if (nchildren == capchildren) {
        capchildren = capchildren ? capchildren * 2 : 16;
        children = pmq_xrealloc(children, capchildren * sizeof *children);
    }
    child *c = &children[nchildren++];
    memset(c, 0, sizeof *c);
    c->role = r;
    c->cfg = cfg;
    c->pool = pool;
    c->index = index;
    c->throttle_ms = 1000;
    int nslots = r == ROLE_WORKER ? threads(c) : 0;
    c->shared_size = sizeof *c->shared + (size_t)nslots * sizeof(pmq_worker_slot);
    c->shared = mmap(NULL, c->shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (c->shared == MAP_FAILED) {
        log_error("could not map shared memory: %s", strerror(errno));
        c->shared = NULL;
    }
    if (r == ROLE_WORKER) {
        c->slots = c->shared ? c->shared->slots : NULL;
        c->note.running = pmq_xcalloc((size_t)nslots, sizeof *c->note.running);
        c->note.running_reason = pmq_xcalloc((size_t)nslots, sizeof *c->note.running_reason);
    }
    return c;
}

static void free_child(child *c)
{
    if (c->shared)
        munmap(c->shared, c->shared_size);
    free(c->note.running);
    free(c->note.running_reason);
}

static void add_generation(const pmq_config *cfg)
{
    if (cfg->migrator.enabled)
        add_child(ROLE_MIGRATOR, cfg, NULL, 0);
    add_child(ROLE_MAINTENANCE, cfg, NULL, 0);
    if (cfg->http.listen)
        add_child(ROLE_HTTP, cfg, NULL, 0);
    for (size_t p = 0; p < cfg->npools; p++)
        for (int i = 0; i < cfg->pools[p].processes; i++)
            add_child(ROLE_WORKER, cfg, &cfg->pools[p], i);
}

/*--- watching them ---*/

/* "worker died: signal 11 (...)": a job's error when its worker died, and the log's words. */
static void describe_exit(const child *c, int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "%s died: signal %d (%s)", role_name(c), WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "%s exited with status %d", role_name(c), WEXITSTATUS(status));
}

/*
 * Remember what a dead worker was running, for its replacement, which
 * charges an attempt to the jobs listed and returns the rest uncharged.
 * When we killed it for a handler timeout, only the jobs past their own
 * deadline at the kill are listed: the others ran beside them innocently.
 */
static void write_note(child *c, int status)
{
    pmq_death_note *n = &c->note;
    snprintf(n->worker_id, sizeof n->worker_id, "%s", c->worker_id);
    describe_exit(c, status, n->reason, sizeof n->reason);
    n->nrunning = 0;
    for (int i = 0; c->slots && i < threads(c); i++) {
        int64_t deadline = __atomic_load_n(&c->slots[i].deadline_ms, __ATOMIC_ACQUIRE);
        if (deadline == 0 || (c->timed_out[0] && deadline >= c->killed_ms)) {
            c->slots[i].deadline_ms = 0;
            continue;
        }
        memcpy(n->running[n->nrunning], c->slots[i].job_id, PMQ_JOB_ID_SIZE);
        n->running_reason[n->nrunning][0] = '\0';
        if (c->timed_out[0]) {
            int ms = c->slots[i].timeout_ms;
            if (ms % 1000)
                snprintf(n->running_reason[n->nrunning], 128, "timed out after %d ms", ms);
            else
                snprintf(n->running_reason[n->nrunning], 128, "timed out after %d s", ms / 1000);
        }
        n->nrunning++;
        c->slots[i].deadline_ms = 0;
    }
    c->has_note = 1;
    c->timed_out[0] = '\0';
}

/*
 * Whether a child that ended had served anything, as Postfix's master asks
 * (use_count), whatever its age (a start-up that is slow on a busy machine
 * is still a start-up): a worker once it started a job; other roles once
 * they said so with pmq_served() (connected to their servers, bound their
 * socket).
 */
static int served(const child *c)
{
    if (!c->shared)
        return 0;
    if (c->role != ROLE_WORKER)
        return __atomic_load_n(&c->shared->served, __ATOMIC_ACQUIRE);
    for (int i = 0; i < threads(c); i++)
        if (c->slots[i].job_id[0])
            return 1;
    return 0;
}

static void reap(int draining)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < nchildren; i++) {
            child *c = &children[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            int64_t lived = pmq_now_ms() - c->started_ms;
            int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (c->role == ROLE_WORKER && !clean)
                write_note(c, status);
            if (draining || c->retiring)
                break;
            if (WIFEXITED(status) && WEXITSTATUS(status) == PMQ_EXIT_CONFIG) {
                log_error("%s exited with a configuration error; not restarting it until a "
                          "reload (SIGHUP)", role_name(c));
                c->disabled = 1;
                break;
            }
            char why[256];
            describe_exit(c, status, why, sizeof why);
            /* A worker that died in a handler was serving: not a start-up failure. */
            int was_serving = c->has_note && c->note.nrunning > 0;
            if (!was_serving && !served(c)) {
                /* Dying at start-up again and again: do not spin (Postfix's throttle). */
                log_warning("%s (pid %d) died %lld ms after start (%s) -- throttling for %lld ms",
                            role_name(c), (int)pid, (long long)lived, why,
                            (long long)c->throttle_ms);
                c->restart_at_ms = pmq_now_ms() + c->throttle_ms;
                c->throttle_ms = c->throttle_ms * 2 > 60000 ? 60000 : c->throttle_ms * 2;
            } else {
                log_warning("%s (pid %d) ended: %s; restarting it", role_name(c), (int)pid,
                            clean ? "exited" : why);
                c->restart_at_ms = pmq_now_ms();
                c->throttle_ms = 1000;
            }
            break;
        }
    }
}

static void check_timeouts(void)
{
    int64_t now = pmq_now_ms();
    for (size_t i = 0; i < nchildren; i++) {
        child *c = &children[i];
        if (c->role != ROLE_WORKER || !c->pid || !c->slots || c->timed_out[0])
            continue;
        for (int t = 0; t < threads(c); t++) {
            int64_t deadline = __atomic_load_n(&c->slots[t].deadline_ms, __ATOMIC_ACQUIRE);
            if (deadline && now > deadline) {
                memcpy(c->timed_out, c->slots[t].job_id, PMQ_JOB_ID_SIZE);
                c->killed_ms = now;
                log_warning("job %s ran past its timeout of %d ms: killing worker pid %d",
                            c->timed_out, c->slots[t].timeout_ms, (int)c->pid);
                kill(c->pid, SIGKILL);
                break;
            }
        }
    }
}

static void start_due(void)
{
    int64_t now = pmq_now_ms();
    for (size_t i = 0; i < nchildren; i++) {
        child *c = &children[i];
        if (c->pid || c->retiring || c->disabled || now < c->restart_at_ms)
            continue;
        if (start_child(c) > 0 && c->has_note) {
            /* The replacement has taken the note (it was copied by fork). */
            c->has_note = 0;
        }
    }
}

static size_t running_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < nchildren; i++)
        n += children[i].pid != 0;
    return n;
}

static void signal_all(int sig, int only_retiring)
{
    for (size_t i = 0; i < nchildren; i++)
        if (children[i].pid && (!only_retiring || children[i].retiring))
            kill(children[i].pid, sig);
}

/*
 * Release, in an errand, what the workers with a note and no replacement
 * held: `charge` as their notes say (a retired worker that died), or none
 * with `reason` (pmqd stopped them), waiting for it with `wait`.
 */
static void release_notes(const pmq_config *cfg, int only_retired, const char *reason,
                          int charge, int wait)
{
    const pmq_death_note **notes = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nchildren; i++) {
        child *c = &children[i];
        if (c->has_note && !c->pid && (!only_retired || c->retiring)) {
            notes = pmq_xrealloc(notes, (n + 1) * sizeof *notes);
            notes[n++] = &c->note;
            c->has_note = 0;
        }
    }
    if (n)
        pmq_errand_release(cfg, notes, n, reason, charge, wait);
    free(notes);
}

/*
 * Forget the children a reload retired once they have ended (a worker's
 * note released first), and the configurations no child belongs to.
 */
static void forget_retired(const pmq_config *current)
{
    release_notes(current, 1, NULL, 1, 0);
    size_t kept = 0;
    for (size_t i = 0; i < nchildren; i++) {
        if (children[i].retiring && !children[i].pid)
            free_child(&children[i]);
        else
            children[kept++] = children[i];
    }
    nchildren = kept;
    kept = 0;
    for (size_t k = 0; k < nconfigs; k++) {
        int used = configs[k] == current;
        for (size_t i = 0; !used && i < nchildren; i++)
            used = children[i].cfg == configs[k];
        if (used)
            configs[kept++] = configs[k];
        else
            pmq_config_free(configs[k]);
    }
    nconfigs = kept;
}

int pmq_supervisor_run(const char *path, const pmq_config *cfg)
{
    pmq_log_set_ident("pmqd");
    pmq_log_set_json(cfg->daemon.log_format == PMQ_LOG_JSON);
    int level = cfg->daemon.log_level ? pmq_log_level_parse(cfg->daemon.log_level) : -1;
    if (level >= 0)
        pmq_log_min_level = level;
    if (pmq_errand_preflight(cfg) < 0)
        return 1;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    const pmq_config *current = cfg;
    add_generation(current);
    log_info("pmqd %s started with \"%s\" (host \"%s\", %zu pool%s)", PMQ_VERSION, path,
             cfg->daemon.host_id, cfg->npools, cfg->npools == 1 ? "" : "s");

    int64_t drain_deadline = 0;
    for (;;) {
        if (!drain_deadline)
            start_due();
        struct timespec tick = {0, 50 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!drain_deadline) {
                log_info("draining: finishing in-flight jobs (grace period %d ms)",
                         current->daemon.grace_period_ms);
                drain_deadline = pmq_now_ms() + current->daemon.grace_period_ms;
                signal_all(SIGTERM, 0);
            }
        } else if (sig == SIGHUP && !drain_deadline) {
            pmq_errors errs = PMQ_ERRORS_INIT;
            pmq_config *next = pmq_config_load(path, &errs);
            if (!next) {
                log_error("reload refused: \"%s\" has %zu problem%s; keeping the running "
                          "configuration", path, errs.count, errs.count == 1 ? "" : "s");
                for (size_t i = 0; i < errs.count; i++) {
                    const pmq_error *e = &errs.items[i];
                    log_error("%s", e->message);
                    if (e->detail)
                        log_error("DETAIL: %s", e->detail);
                    if (e->hint)
                        log_error("HINT: %s", e->hint);
                }
            } else {
                log_info("reloading \"%s\": replacing children", path);
                for (size_t i = 0; i < nchildren; i++)
                    children[i].retiring = 1;
                signal_all(SIGTERM, 1);
                configs = pmq_xrealloc(configs, (nconfigs + 1) * sizeof *configs);
                configs[nconfigs++] = next;
                current = next;
                add_generation(current);
            }
            pmq_errors_clear(&errs);
        }
        reap(drain_deadline != 0);
        if (!drain_deadline)
            forget_retired(current);
        check_timeouts();

        if (drain_deadline) {
            if (running_count() == 0)
                break;
            if (pmq_now_ms() > drain_deadline) {
                log_warning("grace period over: killing %zu children", running_count());
                signal_all(SIGKILL, 0);
                while (running_count()) {
                    pmq_sleep_ms(10);
                    reap(1);
                }
                break;
            }
        }
    }
    /* After the grace period: requeue, uncharged, what killed workers held. */
    release_notes(current, 0, "pmqd stopped", 0, 1);

    for (size_t i = 0; i < nchildren; i++)
        free_child(&children[i]);
    free(children);
    children = NULL;
    nchildren = capchildren = 0;
    for (size_t i = 0; i < nconfigs; i++)
        pmq_config_free(configs[i]);
    free(configs);
    configs = NULL;
    nconfigs = 0;
    log_info("stopped");
    return 0;
}
