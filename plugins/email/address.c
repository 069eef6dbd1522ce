/*
 * address.c -- address lists with their groups opened up (see address.h).
 */
#include "address.h"

void email_address_flatten(InternetAddressList *list, InternetAddressList *dst)
{
    for (int i = 0; list && i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            internet_address_list_add(dst, ia);
        else if (INTERNET_ADDRESS_IS_GROUP(ia))
            email_address_flatten(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                                  dst);
    }
}
