#define _POSIX_C_SOURCE 200809L
/* A main for the fuzz targets when there is no libFuzzer: runs every file
 * named on the command line, and every file inside every directory named,
 * through LLVMFuzzerTestOneInput once, in sorted order.
 *
 * It is what lets the targets build with gcc in the normal build, where
 * meson test runs each target over its committed corpus and regression
 * inputs so that a crash once found stays fixed; it is also the harness
 * AFL++ drives in file mode (afl-fuzz ... -- fuzz_wire @@, see
 * docs/fuzzing.md). A crash aborts the process, with the file named on
 * stderr first. Exit 0 when every input ran, 2 on a usage or I/O error. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* The largest input replayed: libFuzzer's default -max_len is far below. */
#define INPUT_MAX (1u << 20)

static unsigned long ran;
/* The input being run, for the crash handler. */
static char current[4096];

/* A crash (an abort from a failed check or assertion, a fault) names the
 * input that caused it, then dies of the same signal. */
static void on_crash(int sig)
{
    static const char msg[] = "\nstandalone: crashed on input ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current, strlen(current)) < 0 ||
        write(2, "\n", 1) < 0) {
        /* nothing more can be said */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(INPUT_MAX);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    size_t len = fread(buf, 1, INPUT_MAX, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    if (getenv("FUZZ_VERBOSE") != NULL) {
        fprintf(stderr, "running %s (%zu bytes)\n", path, len);
    }
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(buf, len);
    current[0] = '\0';
    free(buf);
    ran++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path);

static int run_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue; /* ., .. and hidden files such as .gitkeep */
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (grown == NULL) {
                break;
            }
            names = grown;
        }
        size_t len = strlen(path) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(len);
        if (names[n] == NULL) {
            break;
        }
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_path(names[i]) < 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    return S_ISDIR(st.st_mode) ? run_dir(path) : run_file(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n"
                        "runs each input through the fuzz target once (no fuzzing)\n",
                argv[0]);
        return 2;
    }
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (run_path(argv[i]) < 0) {
            rc = 2;
        }
    }
    printf("%s: %lu inputs ran\n", argv[0], ran);
    return rc;
}
