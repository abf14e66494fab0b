/* Network namespaces and links for the live world, through iproute2's `ip`
 * (fork/exec, no shell) and a few direct calls where `ip` has no verb:
 * offloads (the ethtool ioctl) and sysctls (/proc/sys, per namespace). */
#ifndef TW_BACKENDS_NETNS_H
#define TW_BACKENDS_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#define TW_NETNS_PREFIX "tw"
#define TW_NETNS_NAME_MAX 64

/* Runs `ip` with the NULL-terminated arguments; 0 or -1 with the command
 * and its error output in err. */
int tw_netns_ip(char *err, size_t err_len, const char *arg0, ...);
/* Moves the calling thread into namespace ns (setns); *saved receives an
 * fd of the namespace it was in, for tw_netns_leave. 0 or -errno. */
int tw_netns_enter(const char *ns, int *saved);
void tw_netns_leave(int saved);
/* Turns off checksum, segmentation and receive offloads of ifname in the
 * current namespace: a frame device then sees every frame as it is on the
 * wire. 0 or -errno. */
int tw_netns_offloads_off(const char *ifname);
/* Writes value to /proc/sys/<path> in the current namespace. */
int tw_netns_sysctl(const char *path, const char *value);
/* The run id of this process: its pid in base 36. */
void tw_netns_run_id(char *out, size_t len);
int tw_netns_cleanup_stale(void);

#endif
