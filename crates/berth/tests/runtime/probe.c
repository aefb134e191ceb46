/* probe: tries one syscall and prints its result, so tests can assert exact kernel answers.
 * Usage: probe <what> [args...]; prints "ok" or "errno=<NAME>" and exits 0.
 * Built static by the test harness. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static int report(int rc) {
    if (rc == 0) puts("ok");
    else printf("errno=%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: probe <what>\n"); return 2; }
    const char *what = argv[1];
    if (!strcmp(what, "mount")) return report(mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(what, "sethostname")) return report(sethostname("probe", 5));
    fprintf(stderr, "probe: unknown probe %s\n", what);
    return 2;
}
