/* The checkpoint.* methods (rpc_det.c), reached through rpc.c. */
#ifndef CKD_RPC_DET_H
#define CKD_RPC_DET_H

#include <stddef.h>

#include "client.h"

/* The checkpoint.* methods; return 0 when a reply was deferred,
 * else an error code with why filled. */
int ckd_rpc_det(ckd_client *c, const char *method, json_t *id, json_t *params, char *why,
                size_t whylen);

#endif
