/* probe: tries one operation and prints its result, so tests can assert exact kernel answers.
 *
 * Usage: probe <what> [args...]
 * Prints one line, "ok" or "errno=<NAME>" (e.g. errno=EPERM), and exits 0; exits 2 on bad usage.
 * "status" instead prints the Cap*, NoNewPrivs and Seccomp lines of /proc/self/status, and
 * "read" prints "ok <first line>" so a test can see what it read.
 * Built static (`cc -static`) by the test harness and copied into each test rootfs as /bin/probe.
 *
 *   mount [target]             mount a tmpfs on target (default /tmp)
 *   umount <target>            umount2(target, MNT_DETACH)
 *   unshare <ns>               unshare one namespace: mnt uts ipc net pid user cgroup
 *   setns <path>               open a namespace file and setns(2) into it
 *   keyctl                     keyctl(KEYCTL_GET_KEYRING_ID, session keyring, create)
 *   kexec_load                 kexec_load with invalid flags (EPERM without CAP_SYS_BOOT, else EINVAL)
 *   sethostname [name]         sethostname
 *   ptrace                     fork a child that does PTRACE_TRACEME; its result is printed
 *   clone_newns                clone(CLONE_NEWNS) a child that exits at once
 *   link_add [name]            RTM_NEWLINK over NETLINK_ROUTE to add a dummy link
 *   socket <family>            socket(family, SOCK_DGRAM or SOCK_RAW, 0): netlink inet inet6 unix packet
 *   chown <path> <uid> <gid>   chown
 *   mknod <path>               mknod a character device 1:3 (like /dev/null)
 *   setuid <uid>               setuid
 *   write <path>               open(O_WRONLY|O_CREAT) and write one byte
 *   read <path>                open and read the first line
 *   status                     the capability, no_new_privs and seccomp lines of /proc/self/status
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(int rc) {
    if (rc == 0) {
        puts("ok");
    } else {
        const char *name = strerrorname_np(errno);
        printf("errno=%s\n", name ? name : "?");
    }
    return 0;
}

/* Sets errno to err (when non-zero) and returns the report of the result. */
static int report_err(int err) {
    errno = err;
    return report(err ? -1 : 0);
}

static int usage(void) {
    fprintf(stderr, "usage: probe <what> [args...]; see probe.c\n");
    return 2;
}

static int ns_flag(const char *ns) {
    if (!strcmp(ns, "mnt")) return CLONE_NEWNS;
    if (!strcmp(ns, "uts")) return CLONE_NEWUTS;
    if (!strcmp(ns, "ipc")) return CLONE_NEWIPC;
    if (!strcmp(ns, "net")) return CLONE_NEWNET;
    if (!strcmp(ns, "pid")) return CLONE_NEWPID;
    if (!strcmp(ns, "user")) return CLONE_NEWUSER;
    if (!strcmp(ns, "cgroup")) return CLONE_NEWCGROUP;
    return -1;
}

static int ptrace_child(void) {
    pid_t pid = fork();
    if (pid < 0) return report(-1);
    if (pid == 0) {
        long rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        _exit(rc == 0 ? 0 : (errno & 0xff));
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return report(-1);
    if (!WIFEXITED(status)) {
        printf("signal=%d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return 0;
    }
    return report_err(WEXITSTATUS(status));
}

static int clone_newns(void) {
    long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) return report(-1);
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return report(0);
}

static void add_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len) {
    struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Adds a dummy link: the kernel checks CAP_NET_ADMIN before it looks at the link kind. */
static int link_add(const char *name) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return report(-1);
    char buf[512] __attribute__((aligned(4)));
    memset(buf, 0, sizeof buf);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    h->nlmsg_type = RTM_NEWLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    h->nlmsg_seq = 1;
    add_attr(h, IFLA_IFNAME, name, strlen(name) + 1);
    struct rtattr *linkinfo = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    add_attr(h, IFLA_LINKINFO, NULL, 0);
    add_attr(h, IFLA_INFO_KIND, "dummy", 6);
    linkinfo->rta_len = (unsigned short)((char *)h + h->nlmsg_len - (char *)linkinfo);
    if (send(fd, h, h->nlmsg_len, 0) < 0) return report(-1);
    char ack[1024] __attribute__((aligned(4)));
    ssize_t n = recv(fd, ack, sizeof ack, 0);
    if (n < 0) return report(-1);
    struct nlmsghdr *r = (struct nlmsghdr *)ack;
    if (!NLMSG_OK(r, (size_t)n) || r->nlmsg_type != NLMSG_ERROR) {
        fprintf(stderr, "probe: unexpected netlink answer\n");
        return 2;
    }
    struct nlmsgerr *e = NLMSG_DATA(r);
    return report_err(-e->error);
}

static int socket_family(const char *family) {
    int f, type = SOCK_DGRAM;
    if (!strcmp(family, "netlink")) f = AF_NETLINK, type = SOCK_RAW;
    else if (!strcmp(family, "inet")) f = AF_INET;
    else if (!strcmp(family, "inet6")) f = AF_INET6;
    else if (!strcmp(family, "unix")) f = AF_UNIX;
    else if (!strcmp(family, "packet")) f = AF_PACKET, type = SOCK_RAW;
    else return usage();
    int fd = socket(f, type, 0);
    if (fd >= 0) close(fd);
    return report(fd < 0 ? -1 : 0);
}

static int read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return report(-1);
    char line[4096] = "";
    if (!fgets(line, sizeof line, f) && ferror(f)) return report(-1);
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    printf("ok %s\n", line);
    return 0;
}

static int status(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return report(-1);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs:", 11) ||
            !strncmp(line, "Seccomp:", 8))
            fputs(line, stdout);
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *what = argv[1];
    const char *arg = argc > 2 ? argv[2] : NULL;
#define NEED(n) if (argc < 2 + (n)) return usage()
    if (!strcmp(what, "mount")) return report(mount("none", arg ? arg : "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(what, "umount")) { NEED(1); return report(umount2(arg, MNT_DETACH)); }
    if (!strcmp(what, "unshare")) {
        NEED(1);
        int flag = ns_flag(arg);
        if (flag < 0) return usage();
        return report(unshare(flag));
    }
    if (!strcmp(what, "setns")) {
        NEED(1);
        int fd = open(arg, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return report(-1);
        return report(setns(fd, 0));
    }
    if (!strcmp(what, "keyctl")) {
        long rc = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
        return report(rc < 0 ? -1 : 0);
    }
    if (!strcmp(what, "kexec_load"))
        return report((int)syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL));
    if (!strcmp(what, "sethostname")) {
        const char *name = arg ? arg : "probe";
        return report(sethostname(name, strlen(name)));
    }
    if (!strcmp(what, "ptrace")) return ptrace_child();
    if (!strcmp(what, "clone_newns")) return clone_newns();
    if (!strcmp(what, "link_add")) return link_add(arg ? arg : "probe0");
    if (!strcmp(what, "socket")) { NEED(1); return socket_family(arg); }
    if (!strcmp(what, "chown")) {
        NEED(3);
        return report(chown(arg, (uid_t)atoi(argv[3]), (gid_t)atoi(argv[4])));
    }
    if (!strcmp(what, "mknod")) { NEED(1); return report(mknod(arg, S_IFCHR | 0666, makedev(1, 3))); }
    if (!strcmp(what, "setuid")) { NEED(1); return report(setuid((uid_t)atoi(arg))); }
    if (!strcmp(what, "write")) {
        NEED(1);
        int fd = open(arg, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return report(-1);
        int rc = write(fd, "x", 1) == 1 ? 0 : -1;
        close(fd);
        return report(rc);
    }
    if (!strcmp(what, "read")) { NEED(1); return read_file(arg); }
    if (!strcmp(what, "status")) return status();
    fprintf(stderr, "probe: unknown probe %s\n", what);
    return 2;
}
