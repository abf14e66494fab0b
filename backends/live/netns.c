/* See netns.h. */
#define _GNU_SOURCE
#include "backends/live/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IP_ARGS_MAX 32

int tw_netns_ip(char *err, size_t err_len, const char *arg0, ...)
{
    const char *argv[IP_ARGS_MAX + 2] = {"ip"};
    int n = 1;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n <= IP_ARGS_MAX; a = va_arg(ap, const char *)) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        dup2(pipefd[1], 1);
        execvp("ip", (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    char out[512];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(pipefd[0], out + got, sizeof out - 1 - got);
        if (k <= 0) {
            break;
        }
        got += (size_t)k;
        if (got == sizeof out - 1) {
            got = 0; /* keep the tail only: a long error is still one line */
        }
    }
    out[got] = '\0';
    close(pipefd[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (err) {
            size_t k = (size_t)snprintf(err, err_len, "ip");
            for (int i = 1; i < n && k < err_len; i++) {
                k += (size_t)snprintf(err + k, err_len - k, " %s", argv[i]);
            }
            if (k < err_len) {
                snprintf(err + k, err_len - k, ": %s", got ? out : "failed");
            }
            char *nl = strchr(err, '\n');
            if (nl) {
                *nl = '\0';
            }
        }
        return -1;
    }
    return 0;
}

int tw_netns_enter(const char *ns, int *saved)
{
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    *saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*saved < 0 || setns(fd, CLONE_NEWNET) < 0) {
        int e = errno;
        close(fd);
        if (*saved >= 0) {
            close(*saved);
        }
        return -e;
    }
    close(fd);
    return 0;
}

void tw_netns_leave(int saved)
{
    if (saved >= 0) {
        setns(saved, CLONE_NEWNET);
        close(saved);
    }
}

static int ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = value};
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    ifr.ifr_data = (void *)&ev;
    return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int tw_netns_offloads_off(const char *ifname)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    /* Transmit checksums first: the kernel refuses TSO without them, and
     * with them off it turns TSO off as well. */
    static const uint32_t cmds[] = {ETHTOOL_STXCSUM, ETHTOOL_SRXCSUM, ETHTOOL_STSO,
                                    ETHTOOL_SGSO, ETHTOOL_SGRO};
    int rc = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int r = ethtool_set(fd, ifname, cmds[i], 0);
        if (r < 0 && r != -EOPNOTSUPP && rc == 0) {
            rc = r;
        }
    }
    close(fd);
    return rc;
}

int tw_netns_sysctl(const char *path, const char *value)
{
    char full[256];
    snprintf(full, sizeof full, "/proc/sys/%s", path);
    int fd = open(full, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t k = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    return k < 0 ? -e : 0;
}

static void base36(unsigned long v, char *out, size_t len)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v && n < sizeof tmp);
    size_t k = 0;
    while (n && k + 1 < len) {
        out[k++] = tmp[--n];
    }
    out[k] = '\0';
}

void tw_netns_run_id(char *out, size_t len)
{
    base36((unsigned long)getpid(), out, len);
}

/* A namespace tw<run>-<name> whose run's process is gone. */
static bool stale(const char *name)
{
    if (strncmp(name, TW_NETNS_PREFIX, 2) != 0) {
        return false;
    }
    const char *dash = strchr(name, '-');
    if (dash == NULL || dash == name + 2 || dash - name > 10) {
        return false;
    }
    char id[16];
    memcpy(id, name + 2, (size_t)(dash - name - 2));
    id[dash - name - 2] = '\0';
    char *end;
    unsigned long pid = strtoul(id, &end, 36);
    if (*end != '\0' || pid == 0) {
        return false;
    }
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int tw_netns_cleanup_stale(void)
{
    DIR *d = opendir("/run/netns");
    if (d == NULL) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    char names[256][TW_NETNS_NAME_MAX];
    int count = 0;
    while ((e = readdir(d)) != NULL && count < 256) {
        if (stale(e->d_name) && strlen(e->d_name) < TW_NETNS_NAME_MAX) {
            snprintf(names[count++], TW_NETNS_NAME_MAX, "%.63s", e->d_name);
        }
    }
    closedir(d);
    for (int i = 0; i < count; i++) {
        if (tw_netns_ip(NULL, 0, "netns", "del", names[i], NULL) == 0) {
            n++;
        }
    }
    return n;
}
