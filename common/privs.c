/*
 * privs.c: accounts, peer credentials, dropping root and the Landlock
 * sandbox (privs.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "log.h"
#include "privs.h"
#include "util.h"

/* Debian 12's kernel headers stop at Landlock ABI 2; the kernel ABI is
 * stable, so name the later bits ourselves. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#define PRIVS_LL_NET_BIND_TCP    (1ULL << 0) /* ABI 4 */
#define PRIVS_LL_NET_CONNECT_TCP (1ULL << 1)

#define PRIVS_TREE_DEPTH 16        /* folders deep privs_give_tree goes */
#define PRIVS_ENTRY_MAX  (1 << 24) /* largest passwd/group entry buffer */

/* What a process does to the file system to write: all of it is
 * confined, reading is not. */
#define PRIVS_LL_FS_WRITE                                                \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |     \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
	 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* struct landlock_ruleset_attr as of ABI 4 (handled_access_net). */
struct privs_ll_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};

/*
 * Each daemon's sandbox.  "The set's folders" are run_dir, storage.path
 * and spool.path.  Why not more:
 *  - stored writes sqlite files in storage.path, sqlite's temporary files
 *    in the system's temp folder, and `storage backup` anywhere the
 *    operator names: its writes cannot be confined without breaking
 *    backups, so only its (absent) TCP use is.
 *  - alertd needs TCP to any receiver and writes alerts.db (and sqlite's
 *    temporary files): nothing cheap to confine.
 *  - ingestd serves HTTP (and may consume from the network later): its
 *    TCP use stays free; it writes its sockets and its spool.
 *  - detectd writes its sockets and its checkpoint, and speaks no TCP.
 */
static const struct privs_policy {
	const char *name;
	bool confine_writes; /* file writes beneath the set's folders only */
	bool no_tcp;         /* no TCP bind or connect */
} privs_policies[] = {
        {"ingestd", true, false},
        {"detectd", true, true},
        {"stored", false, true},
        {"alertd", false, false},
};

/* What the set makes in run_dir: a run_dir holding anything else is
 * not taken over (run_dir: /tmp must not become 0750). */
static const char *const privs_run_names[] = {
        "sentinel.pid", "sentinel.sock", "*.ipc",           "*.metrics",
        "*.logring",    "*.metrics.tmp", "*.logring.tmp.*", NULL};
/* Evidence that a data folder is the set's. */
static const char *const privs_data_names[] = {"sentinel.db", "alerts.db",
                                               NULL};

/* The admin group privs_peer_allowed uses: set once before threads. */
static bool privs_have_admin;
static gid_t privs_admin_gid;
static char privs_admin_name[64];

/* snprintf into err, for the -1 returns. */
static int privs_fail(char *err, size_t errsize, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
privs_fail(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- accounts -------------------------------------------------------------
 */

/*
 * getpwnam_r, or getpwuid_r when name is NULL, with a buffer grown until
 * the entry fits (*buf, to free either way).  Returns pw or NULL.
 */
static struct passwd *
privs_passwd(const char *name, uid_t uid, struct passwd *pw, char **buf)
{
	struct passwd *res = NULL;
	size_t size = 4096;
	int e;

	for (;;) {
		*buf = sn_xmalloc(size);
		e = name != NULL ? getpwnam_r(name, pw, *buf, size, &res)
		                 : getpwuid_r(uid, pw, *buf, size, &res);
		if (e != ERANGE || size >= PRIVS_ENTRY_MAX)
			return e == 0 ? res : NULL;
		free(*buf);
		size *= 2;
	}
}

/* The same for a group: getgrnam_r, or getgrgid_r when name is NULL (a
 * group with many members needs a large buffer). */
static struct group *
privs_group(const char *name, gid_t gid, struct group *gr, char **buf)
{
	struct group *res = NULL;
	size_t size = 4096;
	int e;

	for (;;) {
		*buf = sn_xmalloc(size);
		e = name != NULL ? getgrnam_r(name, gr, *buf, size, &res)
		                 : getgrgid_r(gid, gr, *buf, size, &res);
		if (e != ERANGE || size >= PRIVS_ENTRY_MAX)
			return e == 0 ? res : NULL;
		free(*buf);
		size *= 2;
	}
}

/* Resolves cfg's security.user and .group into p; -1 with err set. */
static int
privs_resolve_user(const struct sn_config *cfg, struct privs *p, char *err,
                   size_t errsize)
{
	const char *name = cfg->security.user;
	struct passwd pw;
	struct group gr;
	char *buf;
	int rv = -1;

	if (privs_passwd(name, 0, &pw, &buf) == NULL) {
		privs_fail(err, errsize,
		           "security.user: no user \"%s\" on this machine "
		           "(create it: useradd -r -s /usr/sbin/nologin %s)",
		           name, name);
		goto out;
	}
	if (pw.pw_uid == 0) {
		privs_fail(err, errsize,
		           "security.user: \"%s\" is uid 0: name an "
		           "unprivileged user",
		           name);
		goto out;
	}
	p->user = sn_xstrdup(pw.pw_name);
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	free(buf);
	if (cfg->security.group != NULL) {
		if (privs_group(cfg->security.group, 0, &gr, &buf) == NULL) {
			privs_fail(err, errsize,
			           "security.group: no group \"%s\" on this "
			           "machine",
			           cfg->security.group);
			goto out;
		}
		p->gid = gr.gr_gid;
		free(buf);
	}
	if (p->gid == 0) {
		privs_fail(err, errsize,
		           "security.group: the set's group is gid 0 (root's): "
		           "name an unprivileged group");
		return -1;
	}
	if (privs_group(NULL, p->gid, &gr, &buf) != NULL)
		p->group = sn_xstrdup(gr.gr_name);
	rv = 0;
out:
	free(buf);
	return rv;
}

int
privs_resolve(const struct sn_config *cfg, struct privs *p, char *err,
              size_t errsize)
{
	const char *name = cfg->security.admin_group;
	struct group gr;
	char *buf;

	memset(p, 0, sizeof(*p));
	if (cfg->security.user != NULL &&
	    privs_resolve_user(cfg, p, err, errsize) < 0)
		return -1;
	if (name == NULL)
		return 0;
	if (privs_group(name, 0, &gr, &buf) == NULL) {
		privs_fail(err, errsize,
		           "security.admin_group: no group \"%s\" on this "
		           "machine (create it: groupadd %s)",
		           name, name);
		free(buf);
		return -1;
	}
	p->have_admin = true;
	p->admin_gid = gr.gr_gid;
	p->admin_group = sn_xstrdup(gr.gr_name);
	free(buf);
	return 0;
}

void
privs_free(struct privs *p)
{
	free(p->user);
	free(p->group);
	free(p->admin_group);
	memset(p, 0, sizeof(*p));
}

bool
privs_should_drop(const struct privs *p)
{
	return p->user != NULL && geteuid() == 0;
}

int
privs_drop(const struct privs *p, char *err, size_t errsize)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* Groups first, while we still may; the user last. */
	if (initgroups(p->user, p->gid) < 0)
		return privs_fail(err, errsize, "initgroups %s: %s", p->user,
		                  strerror(errno));
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return privs_fail(err, errsize, "setresgid %ld: %s",
		                  (long)p->gid, strerror(errno));
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return privs_fail(err, errsize, "setresuid %ld: %s",
		                  (long)p->uid, strerror(errno));
	/* Trust, but verify (OpenBSD daemons do the same). */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != p->uid || eu != p->uid || su != p->uid || rg != p->gid ||
	    eg != p->gid || sg != p->gid)
		return privs_fail(err, errsize,
		                  "user and group ids are not %ld:%ld after "
		                  "the switch",
		                  (long)p->uid, (long)p->gid);
	if (setuid(0) == 0 || seteuid(0) == 0 || setgroups(0, NULL) == 0)
		return privs_fail(err, errsize,
		                  "root can be regained after switching to %s",
		                  p->user);
	return 0;
}

void
privs_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_warn("prctl PR_SET_NO_NEW_PRIVS");
}

/* --- peers ---------------------------------------------------------------- */

bool
privs_peer_decide(uid_t peer_uid, gid_t peer_gid, const gid_t *groups,
                  size_t ngroups, uid_t own_uid, bool have_admin,
                  gid_t admin_gid)
{
	size_t i;

	if (peer_uid == (uid_t)-1)
		return false;
	if (peer_uid == 0 || peer_uid == own_uid)
		return true;
	if (!have_admin)
		return false;
	if (peer_gid == admin_gid)
		return true;
	for (i = 0; i < ngroups; i++)
		if (groups[i] == admin_gid)
			return true;
	return false;
}

void
privs_policy_set(const struct privs *p)
{
	privs_have_admin = p != NULL && p->have_admin;
	privs_admin_gid = privs_have_admin ? p->admin_gid : 0;
	snprintf(privs_admin_name, sizeof(privs_admin_name), "%s",
	         privs_have_admin ? p->admin_group : "");
}

/*
 * The supplementary groups the group database gives uid's user, with
 * gid; a new array in *out (free it), its length returned; 0 when the
 * user is unknown.
 */
static size_t
privs_user_groups(uid_t uid, gid_t gid, gid_t **out)
{
	struct passwd pw;
	char *buf;
	int n = 32, want;

	*out = NULL;
	if (privs_passwd(NULL, uid, &pw, &buf) == NULL) {
		free(buf);
		return 0;
	}
	for (;;) {
		*out = sn_xcalloc((size_t)n, sizeof(**out));
		want = n;
		if (getgrouplist(pw.pw_name, gid, *out, &want) >= 0)
			break;
		free(*out);
		*out = NULL;
		if (want <= n || want > 65536) { /* cannot grow: give up */
			want = 0;
			break;
		}
		n = want;
	}
	free(buf);
	return (size_t)want;
}

bool
privs_peer_allowed(uid_t uid, gid_t gid)
{
	uid_t own = geteuid();
	gid_t *groups;
	size_t n;
	bool ok;

	if (privs_peer_decide(uid, gid, NULL, 0, own, privs_have_admin,
	                      privs_admin_gid))
		return true;
	if (!privs_have_admin || uid == (uid_t)-1)
		return false;
	n = privs_user_groups(uid, gid, &groups);
	ok = privs_peer_decide(uid, gid, groups, n, own, privs_have_admin,
	                       privs_admin_gid);
	free(groups);
	return ok;
}

const char *
privs_policy_describe(char *buf, size_t size)
{
	if (privs_have_admin)
		snprintf(buf, size, "root, uid %ld or group %s",
		         (long)geteuid(), privs_admin_name);
	else
		snprintf(buf, size, "root or uid %ld", (long)geteuid());
	return buf;
}

/* --- directories --------------------------------------------------------- */

static bool
privs_name_matches(const char *name, const char *const *names)
{
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (fnmatch(names[i], name, FNM_PERIOD) == 0)
			return true;
	return false;
}

/*
 * Counts the entries of the folder open at dfd, and in *matching those
 * matching names.  Returns -1 when it cannot be read.
 */
static int
privs_count_dir(int dfd, const char *const *names, int *matching)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	*matching = 0;
	if ((fd = dup(dfd)) < 0)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (privs_name_matches(de->d_name, names))
			(*matching)++;
	}
	closedir(dir);
	return n;
}

/* Gives the file open (O_PATH) at fd to uid:gid unless it is already. */
static void
privs_give(int fd, const struct stat *st, uid_t uid, gid_t gid,
           const char *name)
{
	if ((uid == (uid_t)-1 || st->st_uid == uid) &&
	    (gid == (gid_t)-1 || st->st_gid == gid))
		return;
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
		log_warn("cannot give %s to %ld:%ld", name, (long)uid,
		         (long)gid);
}

/*
 * Gives the entries of the folder open at dfd to uid:gid: those matching
 * names, or with names NULL all of them, folders too, at most depth
 * deep.  Never follows a symbolic link, and leaves a file with several
 * links alone (it may be a link to someone else's file).
 */
static void
privs_give_tree(int dfd, const char *const *names, uid_t uid, gid_t gid,
                int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, sub;

	if ((fd = dup(dfd)) < 0)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (names != NULL && !privs_name_matches(de->d_name, names))
			continue;
		fd = openat(dfd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0) {
			close(fd);
			continue;
		}
		if (S_ISDIR(st.st_mode) && names == NULL && depth > 0) {
			privs_give(fd, &st, uid, gid, de->d_name);
			sub = openat(dfd, de->d_name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                     O_CLOEXEC);
			if (sub >= 0) {
				privs_give_tree(sub, NULL, uid, gid, depth - 1);
				close(sub);
			}
		} else if ((S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode) ||
		            S_ISFIFO(st.st_mode)) &&
		           st.st_nlink == 1)
			privs_give(fd, &st, uid, gid, de->d_name);
		close(fd);
	}
	closedir(dir);
}

/* Whether the existing folder open at dfd (stat st) is the set's own,
 * to be given to uid (privs_prepare_dir). */
static bool
privs_dir_is_ours(int dfd, const struct stat *st, enum privs_dir_kind kind,
                  uid_t uid)
{
	int n, matching;

	if (st->st_uid != 0 && st->st_uid != geteuid() &&
	    (uid == (uid_t)-1 || st->st_uid != uid))
		return false; /* someone else's */
	if (kind == PRIVS_DIR_RUN) {
		n = privs_count_dir(dfd, privs_run_names, &matching);
		return n >= 0 && n == matching;
	}
	n = privs_count_dir(dfd, privs_data_names, &matching);
	return n == 0 || matching > 0 ||
	       (n > 0 && uid != (uid_t)-1 && st->st_uid == uid);
}

int
privs_prepare_dir(const char *path, enum privs_dir_kind kind, unsigned mode,
                  uid_t uid, gid_t gid, bool *took, char *err, size_t errsize)
{
	struct stat st;
	bool created = false;
	char *parent;
	int fd, rv = -1;

	*took = false;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return privs_fail(err, errsize, "%s: %s", path,
			                  strerror(errno));
		parent = sn_path_dirname(path);
		if (sn_mkdir_p(parent, 0755) < 0) {
			privs_fail(err, errsize, "cannot create %s: %s", parent,
			           strerror(errno));
			free(parent);
			return -1;
		}
		free(parent);
		if (mkdir(path, mode & 0777) < 0 && errno != EEXIST)
			return privs_fail(err, errsize, "cannot create %s: %s",
			                  path, strerror(errno));
		created = true;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return privs_fail(err, errsize, "%s: %s", path,
		                  strerror(errno));
	if (fstat(fd, &st) < 0) {
		privs_fail(err, errsize, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!created && !privs_dir_is_ours(fd, &st, kind, uid)) {
		rv = 0; /* someone else's: leave it be */
		goto out;
	}
	if ((uid != (uid_t)-1 && st.st_uid != uid) ||
	    (gid != (gid_t)-1 && st.st_gid != gid)) {
		if (fchown(fd, uid, gid) < 0) {
			privs_fail(err, errsize,
			           "cannot give %s to %ld:%ld: %s", path,
			           (long)uid, (long)gid, strerror(errno));
			goto out;
		}
	}
	/* After the chown, which may clear the setgid bit. */
	if (fchmod(fd, mode) < 0) {
		privs_fail(err, errsize, "cannot chmod %s: %s", path,
		           strerror(errno));
		goto out;
	}
	/* run_dir: the set's files in it; data: the whole tree, as the
	 * deployment guide's `chown -R` would, but never through a link. */
	if (!created && (uid != (uid_t)-1 || gid != (gid_t)-1))
		privs_give_tree(fd,
		                kind == PRIVS_DIR_RUN ? privs_run_names : NULL,
		                uid, gid, PRIVS_TREE_DEPTH);
	*took = true;
	rv = 0;
out:
	close(fd);
	return rv;
}

int
privs_listen_tcp(const char *host, int port, char *err, size_t errsize)
{
	struct addrinfo hints, *res = NULL;
	char service[16];
	int fd, hi, on = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	if ((e = getaddrinfo(host, service, &hints, &res)) != 0)
		return privs_fail(err, errsize, "%s: %s", host,
		                  gai_strerror(e));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
	            res->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 128) < 0) {
		privs_fail(err, errsize, "cannot listen on %s port %d: %s",
		           host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	/* Out of the way of the descriptors a child's exec sets up. */
	if ((hi = fcntl(fd, F_DUPFD_CLOEXEC, 10)) < 0) {
		privs_fail(err, errsize, "fcntl: %s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return hi;
}

/* --- sandbox ---------------------------------------------------------------
 */

#if defined(__NR_landlock_create_ruleset) && \
        defined(__NR_landlock_add_rule) &&   \
        defined(__NR_landlock_restrict_self)

int
privs_landlock(const char *const *write_dirs, bool no_tcp, int *abi)
{
	struct privs_ll_attr attr = {0, 0};
	struct landlock_path_beneath_attr beneath;
	size_t size = sizeof(attr.handled_access_fs), i;
	int v, rfd, dfd, bits = 0, saved;

	*abi = 0;
	v = (int)syscall(__NR_landlock_create_ruleset, NULL, 0,
	                 LANDLOCK_CREATE_RULESET_VERSION);
	if (v < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -1;
	*abi = v;
	if (write_dirs != NULL) {
		attr.handled_access_fs = PRIVS_LL_FS_WRITE;
		if (v >= 2)
			attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
		if (v >= 3)
			attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		bits |= PRIVS_SANDBOX_FS;
	}
	if (no_tcp && v >= 4) {
		attr.handled_access_net =
		        PRIVS_LL_NET_BIND_TCP | PRIVS_LL_NET_CONNECT_TCP;
		size = sizeof(attr);
		bits |= PRIVS_SANDBOX_TCP;
	}
	if (bits == 0)
		return 0;
	rfd = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
	if (rfd < 0)
		return -1;
	for (i = 0; write_dirs != NULL && write_dirs[i] != NULL; i++) {
		dfd = open(write_dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			goto fail;
		memset(&beneath, 0, sizeof(beneath));
		beneath.allowed_access = attr.handled_access_fs;
		beneath.parent_fd = dfd;
		if (syscall(__NR_landlock_add_rule, rfd,
		            LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0) {
			saved = errno;
			close(dfd);
			errno = saved;
			goto fail;
		}
		close(dfd);
	}
	privs_no_new_privs();
	if (syscall(__NR_landlock_restrict_self, rfd, 0) < 0)
		goto fail;
	close(rfd);
	return bits;
fail:
	saved = errno;
	close(rfd);
	errno = saved;
	return -1;
}

#else

int
privs_landlock(const char *const *write_dirs, bool no_tcp, int *abi)
{
	(void)write_dirs;
	(void)no_tcp;
	*abi = 0;
	return 0;
}

#endif

/*
 * The set's folders as privs_landlock takes them: run_dir, storage.path
 * and spool.path, each created when missing (a rule needs the folder to
 * exist, and a folder made later could not be written).  dirs holds 4.
 */
static void
privs_set_folders(const struct sn_config *cfg, const char **dirs)
{
	const char *all[3] = {cfg->run_dir, cfg->storage.path, cfg->spool.path};
	size_t i, n = 0;

	for (i = 0; i < SN_ARRAY_LEN(all); i++) {
		if (all[i] == NULL)
			continue;
		if (sn_mkdir_p(all[i], PRIVS_DIR_MODE) < 0)
			log_warn("sandbox: cannot create %s", all[i]);
		dirs[n++] = all[i];
	}
	dirs[n] = NULL;
}

void
privs_sandbox(const char *name, const struct sn_config *cfg)
{
	const struct privs_policy *pol = NULL;
	const char *dirs[4];
	char abi_s[16];
	size_t i;
	int bits, abi;

	privs_no_new_privs();
	for (i = 0; i < SN_ARRAY_LEN(privs_policies); i++)
		if (strcmp(privs_policies[i].name, name) == 0)
			pol = &privs_policies[i];
	if (!cfg->security.landlock) {
		log_kv(LOG_LEVEL_INFO, "sandbox", "no_new_privs", "yes",
		       "landlock", "off (security.landlock: false)", NULL);
		return;
	}
	if (pol == NULL || (!pol->confine_writes && !pol->no_tcp)) {
		log_kv(LOG_LEVEL_DEBUG, "sandbox", "no_new_privs", "yes",
		       "landlock", "none for this daemon", NULL);
		return;
	}
	if (pol->confine_writes)
		privs_set_folders(cfg, dirs);
	bits = privs_landlock(pol->confine_writes ? dirs : NULL, pol->no_tcp,
	                      &abi);
	snprintf(abi_s, sizeof(abi_s), "%d", abi);
	if (bits < 0) {
		log_kv(LOG_LEVEL_WARN,
		       "sandbox: landlock refused, going on without it",
		       "error", strerror(errno), "landlock_abi", abi_s, NULL);
		return;
	}
	if (abi == 0) {
		log_kv(LOG_LEVEL_INFO,
		       "sandbox: this kernel has no landlock, going on "
		       "without it",
		       "no_new_privs", "yes", NULL);
		return;
	}
	log_kv(LOG_LEVEL_INFO, "sandbox", "no_new_privs", "yes", "landlock_abi",
	       abi_s, "writes",
	       bits & PRIVS_SANDBOX_FS ? "the set's folders only"
	                               : "not confined",
	       "tcp",
	       bits & PRIVS_SANDBOX_TCP ? "denied"
	       : pol->no_tcp            ? "allowed (landlock abi < 4)"
	                                : "allowed",
	       NULL);
}
