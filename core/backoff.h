/*
 * backoff.h -- how long a job waits before its next attempt: exponential in
 * the attempt number, capped, with jitter so that a burst of failures does
 * not come back as a burst.
 */
#ifndef PMQ_BACKOFF_H
#define PMQ_BACKOFF_H

#include <stdint.h>

/*
 * Delay before attempt `attempt + 1` after attempt `attempt` (1-based)
 * failed: base * 2^(attempt-1), at most max_ms, then a random part of up to
 * a quarter taken off.  `rand_state` is the caller's (per thread).
 */
int64_t pmq_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, unsigned *rand_state);

#endif /* PMQ_BACKOFF_H */
