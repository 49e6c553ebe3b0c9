/* The protocol's methods (rpc.c); the socket server (server.c) hands each
 * parsed request here. */
#ifndef CKD_RPC_H
#define CKD_RPC_H

#include <stddef.h>

#include "client.h"

/* Handles one parsed request; returns the reply line (malloc'd). */
char *ckd_rpc_handle(ckd_client *c, ckp_msg *m, size_t *len);

#endif
