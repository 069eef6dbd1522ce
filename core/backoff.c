/*
 * backoff.c -- retry delays (see backoff.h).
 */
#include <stdlib.h>

#include "backoff.h"

int64_t pmq_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, unsigned *rand_state)
{
    if (base_ms <= 0)
        return 0;
    if (attempt < 1)
        attempt = 1;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* Up to 25 % less, never more: the cap stays a cap. */
    int64_t jitter = d / 4;
    if (jitter > 0)
        d -= (int64_t)(rand_r(rand_state) % (unsigned)(jitter + 1));
    return d;
}
