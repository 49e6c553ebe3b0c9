/* ckc det_login: the master and the login of a det-style command, as det
 * picks them in the user's shell: -m/--master, else DET_MASTER (else
 * DET_MASTER_ADDR); the login from DET_USER with DET_PASS, det's token
 * store, DET_USER_TOKEN (proto/detlogin.h); DET_MASTER_CERT_FILE (a CA
 * file, or "noverify"). Without a master named the daemon's own master and
 * login serve. */
#ifndef CKC_DET_LOGIN_H
#define CKC_DET_LOGIN_H

#include <jansson.h>

#include "cmd.h"

/* Adds the command's master (source.master when source is not NULL, else
 * params.master) and its login (params.login: user, token and/or password,
 * ca_file or noverify) to a request. Returns 0, or an exit status after
 * printing why (a bad URL is a usage error). params may be NULL (nothing
 * to do: the caller reports out of memory). */
int ckc_det_attach(const ckc_opts *o, json_t *params, json_t *source);

#endif
