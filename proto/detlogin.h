/* ckp detlogin: which Determined master and which login, as det decides
 * them. Shared by the client (which decides for a command, with the
 * environment of the user's shell) and the daemon (which decides for its
 * own master, and for a job whose client's login it no longer has after a
 * restart).
 *
 *  - A master URL in det's canonical form (canonicalize_master_url in
 *    determined/common/api/_util.py): explicit scheme (http when none),
 *    lowercase host, explicit port (80/443 with a scheme, 8080 without),
 *    no userinfo, query or fragment, no trailing '/'.
 *  - det's token store, the file `det user login` writes and ckptd only
 *    reads: <config>/auth.json where <config> is $DET_DEBUG_CONFIG_PATH,
 *    else $XDG_CONFIG_HOME/determined, else ~/.config/determined. Versions
 *    0 (one master's entry), 1 and 2 ({"version":N,"masters":{URL:entry}}),
 *    each entry {"active_user":U,"tokens":{U:TOKEN}}.
 *  - The user and secret as det's login_with_cache picks them: DET_USER
 *    with DET_PASS (only together), else the store's active user, else the
 *    default user "determined" with an empty password; the store's token
 *    for that user, else DET_USER_TOKEN when DET_USER names that user.
 *
 * The parsers are pure and capped; ckp_det_login_from_env reads the
 * environment and the store file (at most CKP_DET_STORE_MAX bytes). */
#ifndef CKP_DETLOGIN_H
#define CKP_DETLOGIN_H

#include <stddef.h>

#define CKP_MASTER_URL_MAX   2048          /* a master URL, canonical form included */
#define CKP_DET_STORE_MAX    (1024 * 1024) /* det's auth.json */
#define CKP_DET_SECRET_MAX   8192          /* a token or a password */
#define CKP_DET_USER_MAX     256           /* a user name */
#define CKP_DET_DEFAULT_USER "determined"  /* det's default user (empty password) */

/* det's canonical form of a master URL ("host:8080" becomes
 * "http://host:8080"). Returns 0, or -EINVAL with *why set (static text).
 * out gets at most outlen bytes with the NUL. */
int ckp_master_url_canon(const char *in, char *out, size_t outlen, const char **why);

/* In det's token store text[0..len): the entry of master url (canonical),
 * its active user (*active, NULL when none) and the token of user (or of
 * the active user when user is NULL; *token NULL when none). Results are
 * malloc'd. Returns 0 (an entry or none), -EINVAL for a store det itself
 * would refuse as corrupt (*why says why), -ENOMEM. */
int ckp_det_store_find(const char *text, size_t len, const char *url, const char *user,
                       char **active, char **token, const char **why);

/* Where det keeps its token store for this environment (malloc'd), or NULL
 * when neither DET_DEBUG_CONFIG_PATH, XDG_CONFIG_HOME nor HOME is set. */
char *ckp_det_store_path(void);

/* A login for one master: user always; token and password when known. */
typedef struct ckp_det_login {
    char *user;
    char *token;      /* secret, or NULL */
    char *password;   /* secret, or NULL: unknown (not the empty password) */
    const char *from; /* where it came from, for messages: "DET_USER/DET_PASS",
                       * "det's token store", "DET_USER_TOKEN", "the default user" */
} ckp_det_login;

/* det's choice for master url (canonical) from the environment and det's
 * token store. Returns 0, -ENOMEM, or -EINVAL when the store is corrupt:
 * then *warn names the file and the login is chosen without it. *warn
 * (malloc'd) may also be set with 0 returned. */
int ckp_det_login_from_env(const char *url, ckp_det_login *out, char **warn);
/* Frees what a login holds, wiping the secrets. */
void ckp_det_login_release(ckp_det_login *l);

#endif
