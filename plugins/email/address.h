/*
 * address.h -- the one GMime address-list step that composing a message and
 * reading a received one share: the mailboxes of a list, with groups
 * ("team: a@x, b@y;") opened up.
 */
#ifndef EMAIL_ADDRESS_H
#define EMAIL_ADDRESS_H

#include <gmime/gmime.h>

/* Append the mailboxes of `list` (NULL: none), groups flattened, to `dst`. */
void email_address_flatten(InternetAddressList *list, InternetAddressList *dst);

#endif /* EMAIL_ADDRESS_H */
