/*
 * served.h -- a child's word to pmqd's master that it has served, as
 * Postfix's master counts a child's use: a child that dies before it served
 * failed at start-up, and the master throttles its restarts.  The word is a
 * flag in memory shared with the master; outside pmqd's children (pmqctl,
 * tests) pmq_served() does nothing.
 */
#ifndef PMQ_SERVED_H
#define PMQ_SERVED_H

/* In a child, after fork: where pmq_served() records the word (the master's). */
void pmq_served_attach(volatile int *flag);

/* A role has served once (connected to its servers, bound its socket). */
void pmq_served(void);

#endif /* PMQ_SERVED_H */
