/* Runtime configuration: defaults, bounds, JSON get/set. One table drives
 * all three so a key cannot be readable but not settable. */
#ifndef CKD_CONFIG_H
#define CKD_CONFIG_H

#include <jansson.h>
#include <stdint.h>

/* X(name, default, min, max, help) */
#define CKD_CONFIG_MAP(X)                                                                          \
    X(max_connections, 16, 1, 256, "transfers in flight over all jobs")                            \
    X(max_per_host, 16, 1, 256, "connections to one host")                                         \
    X(bandwidth_limit, 0, 0, INT64_MAX, "bytes/s over all transfers, 0 = unlimited")               \
    X(segment_threshold, 64 << 20, 1 << 20, INT64_MAX, "files this large are fetched in ranges")   \
    X(max_segments, 16, 1, 64, "ranges per file")                                                  \
    X(split_below, 200000000, 0, INT64_MAX,                                                        \
      "bytes/s per connection under which a large file's ranges are cut further")                  \
    X(buffer_cap, 32 << 20, 4 << 20, 4LL << 30, "receive buffers over all transfers, bytes")       \
    X(workers, 0, 0, 64, "data-plane threads (read at start), 0 = one per core")                   \
    X(journal_step, 1 << 20, 1 << 20, 1LL << 30,                                                   \
      "bytes per range between journal rows (re-hashed after a restart)")                          \
    X(disk_reserve, 64 << 20, 0, INT64_MAX, "free bytes a job leaves on the disk it writes to")    \
    X(disk_budget, 0, 0, INT64_MAX,                                                                \
      "bytes of follow jobs' checkpoints kept on disk, 0 = unlimited")                             \
    X(retry_max, 5, 0, 100, "attempts per transfer for transient errors")                          \
    X(retry_budget, 120, 1, 86400, "seconds a transfer may spend retrying")                        \
    X(low_speed_limit, 1024, 0, INT64_MAX, "bytes/s under which a connection ...")                 \
    X(low_speed_time, 10, 1, 3600, "... for this many seconds is dropped and retried")             \
    X(max_clients, 256, 1, 65536, "client connections at once; more are refused")                  \
    X(client_timeout, 30, 1, 3600, "seconds a client may leave a request line unfinished")         \
    X(master_list_max, 100000, 100, 10000000, "checkpoints one master listing may hold")           \
    X(history_days, 30, 1, 36500, "days a finished job is kept (memory and database)")             \
    X(history_max, 10000, 1, 10000000, "finished jobs kept at most; the oldest go first")          \
    X(durability, 0, 0, 1,                                                                         \
      "\"publish\" (0): synced before publication; \"background\" (1): synced right after")        \
    X(sync_interval_ms, 2000, 100, 3600000,                                                        \
      "ms between syncs of files being written; synced ranges survive a reboot")

typedef struct ckd_config {
#define X(name, def, lo, hi, help) int64_t name;
    CKD_CONFIG_MAP(X)
#undef X
    /* "cache": the fleet cache tier, {"url": ..., "origins": [...]} as
     * cache_route.h parses it (checked by set), NULL when off (JSON null). */
    json_t *cache;
} ckd_config;

void ckd_config_init(ckd_config *c);
/* Frees what init and set allocated (the cache setting). */
void ckd_config_release(ckd_config *c);
json_t *ckd_config_to_json(const ckd_config *c);
/* Applies every key of obj, or none: returns 0, or -EINVAL with the bad key
 * and reason written to why. */
int ckd_config_set_json(ckd_config *c, const json_t *obj, char *why, size_t whylen);
/* Settings changed at runtime survive restarts in <state>/config.json.
 * load: a missing file is fine; a bad one is reported and ignored. save:
 * merges the keys just changed (already checked) into that file, so that it
 * holds only keys a client set. */
int ckd_config_load(ckd_config *c, const char *path, char *why, size_t whylen);
int ckd_config_save(const json_t *changed, const char *path);

#endif
