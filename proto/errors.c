/* The error table: wire names and default messages for ckp_rpc_code. */
#include "ckp.h"

const char *ckp_rpc_name(int code)
{
    switch (code) {
#define X(name, c, wire, msg)                                                                      \
    case c:                                                                                        \
        return wire;
        CKP_RPC_ERROR_MAP(X)
#undef X
    }
    return "unknown_error";
}

const char *ckp_rpc_message(int code)
{
    switch (code) {
#define X(name, c, wire, msg)                                                                      \
    case c:                                                                                        \
        return msg;
        CKP_RPC_ERROR_MAP(X)
#undef X
    }
    return "unknown error";
}
