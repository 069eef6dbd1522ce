/*
 * served.c -- a child's "I have served" for pmqd's master (see served.h).
 */
#include <stddef.h>

#include "served.h"

static volatile int *served_flag;

void pmq_served_attach(volatile int *flag)
{
    served_flag = flag;
}

void pmq_served(void)
{
    if (served_flag)
        __atomic_store_n(served_flag, 1, __ATOMIC_RELEASE);
}
