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
 *
 * Added for the security catalog (catalog_*.rs); every argument is harmless should the call be
 * allowed (bad magic, invalid values, a module name that does not exist):
 *   syscall <nr>               a raw syscall with all-zero arguments
 *   clone3                     clone3 without flags (a child that exits at once)
 *   clone <ns>                 clone(CLONE_NEW<ns> | SIGCHLD), <ns> as for unshare; "none" forks
 *   socket <n> [type]          also a numeric family (type: stream, dgram, seqpacket, raw)
 *   socket raw                 socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
 *   mknod <path> <b|c> <major> <minor>
 *   open <path> [r|w|rw]       open without O_CREAT (w: O_WRONLY, writes nothing)
 *   bind <port>                bind a TCP socket to 0.0.0.0:<port>
 *   chroot <dir>               chroot
 *   bindmount <src> <dst>      mount(src, dst, MS_BIND)
 *   remount_rw <path>          mount(MS_REMOUNT) without MS_RDONLY
 *   mount_cgroup <target>      mount a v1 cgroup hierarchy with the rdma controller
 *   reboot                     reboot(2) with a bad magic (EINVAL once past seccomp and the cap)
 *   kexec_file_load            kexec_file_load with bad fds and flags
 *   init_module / finit_module / delete_module: an empty image, /dev/null, a module that is not
 *   settimeofday / clock_settime  an invalid time (EINVAL once allowed), REALTIME for the latter
 *   adjtimex [set]             read-only (modes 0); "set": ADJ_TICK with an invalid tick
 *   keyctl_join / add_key / request_key   the session keyring, a "user" key
 *   name_to_handle_at <path> / open_by_handle_at <path>  the handle of <path>, opened from "/"
 *   bpf / perf_event_open / userfaultfd / io_uring_setup  with zeroed attributes
 *   ptrace_attach <pid> / process_vm_readv <pid>
 *   forkmax [hold]             fork children that wait until fork fails: prints the errno, then
 *                              forks=<n>; the children are reaped, or with "hold" kept while the
 *                              probe waits for a signal
 *   fill <path> <MiB>          write <MiB> MiB of zeros to a new file
 *   alloc <MiB>                allocate and touch <MiB> MiB, 1 MiB at a time, then print "ok"
 *   euid                       print "euid=<n>"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <time.h>
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

/* Keeps the compiler from dropping the pages alloc touches. */
static char *volatile sink;

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

static int clone_ns(const char *ns) {
    int flag = strcmp(ns, "none") ? ns_flag(ns) : 0;
    if (flag < 0) return usage();
    long pid = syscall(SYS_clone, (unsigned long)flag | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) return report(-1);
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return report(0);
}

static int clone3_plain(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return report(-1);
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return report(0);
}

static int sock_type(const char *t) {
    if (!t || !strcmp(t, "stream")) return SOCK_STREAM;
    if (!strcmp(t, "dgram")) return SOCK_DGRAM;
    if (!strcmp(t, "seqpacket")) return SOCK_SEQPACKET;
    if (!strcmp(t, "raw")) return SOCK_RAW;
    return -1;
}

static int mknod_dev(const char *path, const char *kind, const char *maj, const char *min) {
    mode_t type = !strcmp(kind, "b") ? S_IFBLK : !strcmp(kind, "c") ? S_IFCHR : 0;
    if (!type) return usage();
    return report(mknod(path, type | 0600, makedev(atoi(maj), atoi(min))));
}

static int open_mode(const char *path, const char *how) {
    int flags = O_RDONLY;
    if (how && !strcmp(how, "w")) flags = O_WRONLY;
    else if (how && !strcmp(how, "rw")) flags = O_RDWR;
    int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return report(-1);
    close(fd);
    return report(0);
}

static int bind_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return report(-1);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    int err = errno;
    close(fd);
    errno = err;
    return report(rc);
}

static int handle_of(const char *path, struct file_handle **out) {
    struct file_handle *h = malloc(sizeof *h + MAX_HANDLE_SZ);
    if (!h) return -1;
    h->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, path, h, &mount_id, 0) < 0) {
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int open_by_handle(const char *path) {
    struct file_handle *h;
    if (handle_of(path, &h) < 0) {
        fprintf(stderr, "probe: name_to_handle_at %s: %s\n", path, strerror(errno));
        return 2;
    }
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return report(-1);
    int fd = open_by_handle_at(root, h, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return report(fd < 0 ? -1 : 0);
}

/* Forks children that wait on a pipe until fork fails; reports that errno and the count. */
static int forkmax(int hold) {
    int p[2];
    if (pipe(p) < 0) return report(-1);
    static pid_t kids[100000];
    int n = 0, err = 0;
    while (n < (int)(sizeof kids / sizeof kids[0])) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
            _exit(0);
        }
        kids[n++] = pid;
    }
    if (hold) {
        report_err(err);
        printf("forks=%d\n", n);
        fflush(stdout);
        for (;;) pause();
    }
    close(p[1]);
    for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
    report_err(err);
    printf("forks=%d\n", n);
    return 0;
}

static int fill(const char *path, int mib) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return report(-1);
    static char buf[1 << 20];
    for (int i = 0; i < mib; i++) {
        for (size_t done = 0; done < sizeof buf;) {
            ssize_t w = write(fd, buf + done, sizeof buf - done);
            if (w < 0) {
                int err = errno;
                close(fd);
                return report_err(err);
            }
            done += (size_t)w;
        }
    }
    if (fsync(fd) < 0) return report(-1);
    close(fd);
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

static int socket_family(const char *family, const char *type_name) {
    int f, type = SOCK_DGRAM, proto = 0;
    if (!strcmp(family, "netlink")) f = AF_NETLINK, type = SOCK_RAW;
    else if (!strcmp(family, "inet")) f = AF_INET;
    else if (!strcmp(family, "inet6")) f = AF_INET6;
    else if (!strcmp(family, "unix")) f = AF_UNIX;
    else if (!strcmp(family, "packet")) f = AF_PACKET, type = SOCK_RAW;
    else if (!strcmp(family, "raw")) f = AF_INET, type = SOCK_RAW, proto = IPPROTO_ICMP;
    else if (family[0] >= '0' && family[0] <= '9') {
        f = atoi(family);
        type = sock_type(type_name);
        if (type < 0) return usage();
    } else return usage();
    int fd = socket(f, type, proto);
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
    if (!strcmp(what, "socket")) { NEED(1); return socket_family(arg, argc > 3 ? argv[3] : NULL); }
    if (!strcmp(what, "chown")) {
        NEED(3);
        return report(chown(arg, (uid_t)atoi(argv[3]), (gid_t)atoi(argv[4])));
    }
    if (!strcmp(what, "mknod") && argc >= 6) return mknod_dev(arg, argv[3], argv[4], argv[5]);
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
    if (!strcmp(what, "syscall")) {
        NEED(1);
        return report(syscall(atol(arg), 0, 0, 0, 0, 0, 0) < 0 ? -1 : 0);
    }
    if (!strcmp(what, "clone3")) return clone3_plain();
    if (!strcmp(what, "clone")) { NEED(1); return clone_ns(arg); }
    if (!strcmp(what, "open")) { NEED(1); return open_mode(arg, argc > 3 ? argv[3] : NULL); }
    if (!strcmp(what, "bind")) { NEED(1); return bind_port(atoi(arg)); }
    if (!strcmp(what, "chroot")) { NEED(1); return report(chroot(arg)); }
    if (!strcmp(what, "bindmount")) { NEED(2); return report(mount(arg, argv[3], NULL, MS_BIND, NULL)); }
    if (!strcmp(what, "remount_rw")) {
        NEED(1);
        return report(mount(NULL, arg, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    }
    if (!strcmp(what, "mount_cgroup")) { NEED(1); return report(mount("cgroup", arg, "cgroup", 0, "rdma")); }
    if (!strcmp(what, "reboot"))
        return report((int)syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0x0badbad0, LINUX_REBOOT_CMD_RESTART, NULL));
    if (!strcmp(what, "kexec_file_load"))
        return report((int)syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 0xdead0000UL));
    if (!strcmp(what, "init_module")) return report((int)syscall(SYS_init_module, NULL, 0UL, ""));
    if (!strcmp(what, "finit_module")) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return report(-1);
        return report((int)syscall(SYS_finit_module, fd, "", 0));
    }
    if (!strcmp(what, "delete_module"))
        return report((int)syscall(SYS_delete_module, "berth_probe_no_such_module", O_NONBLOCK));
    if (!strcmp(what, "settimeofday")) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 2000000};
        return report((int)syscall(SYS_settimeofday, &tv, NULL));
    }
    if (!strcmp(what, "clock_settime")) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 2000000000L};
        return report((int)syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
    }
    if (!strcmp(what, "adjtimex")) {
        struct timex tx;
        memset(&tx, 0, sizeof tx);
        if (arg && !strcmp(arg, "set")) tx.modes = ADJ_TICK, tx.tick = 1;
        return report(adjtimex(&tx) < 0 ? -1 : 0);
    }
    if (!strcmp(what, "keyctl_join"))
        return report(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 ? -1 : 0);
    if (!strcmp(what, "add_key"))
        return report(syscall(SYS_add_key, "user", "x", "y", 1, KEY_SPEC_SESSION_KEYRING) < 0 ? -1 : 0);
    if (!strcmp(what, "request_key"))
        return report(syscall(SYS_request_key, "user", "x", NULL, KEY_SPEC_SESSION_KEYRING) < 0 ? -1 : 0);
    if (!strcmp(what, "name_to_handle_at")) {
        NEED(1);
        struct file_handle *h;
        return report(handle_of(arg, &h));
    }
    if (!strcmp(what, "open_by_handle_at")) { NEED(1); return open_by_handle(arg); }
    if (!strcmp(what, "bpf")) {
        char attr[128];
        memset(attr, 0, sizeof attr);
        return report(syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr) < 0 ? -1 : 0);
    }
    if (!strcmp(what, "perf_event_open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
        if (fd >= 0) close((int)fd);
        return report(fd < 0 ? -1 : 0);
    }
    if (!strcmp(what, "userfaultfd")) {
        long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
        if (fd >= 0) close((int)fd);
        return report(fd < 0 ? -1 : 0);
    }
    if (!strcmp(what, "io_uring_setup")) {
        char params[120];
        memset(params, 0, sizeof params);
        long fd = syscall(SYS_io_uring_setup, 1, params);
        if (fd >= 0) close((int)fd);
        return report(fd < 0 ? -1 : 0);
    }
    if (!strcmp(what, "ptrace_attach")) {
        NEED(1);
        pid_t pid = (pid_t)atoi(arg);
        long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
        if (rc == 0) ptrace(PTRACE_DETACH, pid, NULL, NULL);
        return report(rc < 0 ? -1 : 0);
    }
    if (!strcmp(what, "process_vm_readv")) {
        NEED(1);
        char buf[8];
        struct iovec local = {buf, sizeof buf}, remote = {(void *)0x10000, sizeof buf};
        return report(process_vm_readv((pid_t)atoi(arg), &local, 1, &remote, 1, 0) < 0 ? -1 : 0);
    }
    if (!strcmp(what, "forkmax")) return forkmax(arg && !strcmp(arg, "hold"));
    if (!strcmp(what, "alloc")) {
        NEED(1);
        for (int i = 0; i < atoi(arg); i++) {
            char *p = malloc(1 << 20);
            if (!p) return report(-1);
            memset(p, 1, 1 << 20);
            sink = p;
        }
        return report(0);
    }
    if (!strcmp(what, "euid")) { printf("euid=%d\n", (int)geteuid()); return 0; }
    if (!strcmp(what, "fill")) { NEED(2); return fill(arg, atoi(argv[3])); }
    fprintf(stderr, "probe: unknown probe %s\n", what);
    return 2;
}
