/*
 * test_privs.c: who may talk to the set (the pure rule, and the rule
 * applied to live ids), switching user for good, folders given to the
 * set's user without following links into someone else's files, and the
 * Landlock sandbox actually refusing what it should.
 *
 * The tests that chown, switch user or sandbox run in a forked child or
 * in a fresh temporary folder; they need root (CI runs the tests as
 * root), and are skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "privs.h"
#include "util.h"

#define OTHER_UID ((uid_t)54321) /* no such user: fine for chown */
#define OTHER_GID ((gid_t)54321)

static void
need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static char *
tmpdir(void)
{
	char *d = sn_xstrdup("/tmp/sn-test-privs-XXXXXX");

	if (mkdtemp(d) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	return d;
}

static void
rm_rf(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		print_message("# could not remove %s\n", path);
}

static void
touch(const char *dir, const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static struct stat
lstat_of(const char *dir, const char *name)
{
	struct stat st;
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s%s", dir, name[0] ? "/" : "", name);
	if (lstat(p, &st) < 0)
		fail_msg("lstat %s: %s", p, strerror(errno));
	return st;
}

/* Runs fn in a child; returns its exit status (fn's return value). */
static int
in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* --- the rule ------------------------------------------------------------ */

static void
test_decide_root_and_self(void **state)
{
	(void)state;
	/* Root and the set's own uid, with or without an admin group. */
	assert_true(privs_peer_decide(0, 0, NULL, 0, 999, false, 0));
	assert_true(privs_peer_decide(0, 5, NULL, 0, 999, true, 1234));
	assert_true(privs_peer_decide(999, 999, NULL, 0, 999, false, 0));
	assert_true(privs_peer_decide(999, 7, NULL, 0, 999, true, 1234));
	/* When the set runs as root, root is "self". */
	assert_true(privs_peer_decide(0, 0, NULL, 0, 0, false, 0));
}

static void
test_decide_strangers(void **state)
{
	gid_t groups[] = {100, 200, 300};

	(void)state;
	/* No admin group: nobody else, whatever their groups. */
	assert_false(privs_peer_decide(1000, 1000, groups, 3, 999, false, 0));
	/* An admin group they are not in. */
	assert_false(privs_peer_decide(1000, 1000, groups, 3, 999, true, 400));
	/* The set's group is not the admin group: sharing it is not enough. */
	assert_false(privs_peer_decide(1000, 999, NULL, 0, 999, true, 400));
	/* An unknown peer, even if the set's uid is the "unknown" one. */
	assert_false(privs_peer_decide((uid_t)-1, 0, NULL, 0, 999, true, 0));
	assert_false(
	        privs_peer_decide((uid_t)-1, 0, NULL, 0, (uid_t)-1, false, 0));
	/* admin_gid 0 with have_admin false is no admin group at all. */
	assert_false(privs_peer_decide(1000, 0, NULL, 0, 999, false, 0));
}

static void
test_decide_admin_members(void **state)
{
	gid_t groups[] = {100, 400, 300};

	(void)state;
	/* Admin as the primary group, or among the supplementary ones. */
	assert_true(privs_peer_decide(1000, 400, NULL, 0, 999, true, 400));
	assert_true(privs_peer_decide(1000, 1000, groups, 3, 999, true, 400));
	/* The list is looked at up to ngroups only. */
	assert_false(privs_peer_decide(1000, 1000, groups, 1, 999, true, 400));
}

/* The rule on live ids: the admin group's members come from the group
 * database, not from whatever groups the peer process holds. */
static void
test_peer_allowed_live(void **state)
{
	struct privs p = {0};
	struct passwd *nobody = getpwnam("nobody");
	struct group *root = getgrgid(0);

	(void)state;
	privs_policy_set(NULL);
	assert_true(privs_peer_allowed(0, 0));
	assert_true(privs_peer_allowed(geteuid(), 12345));
	assert_false(privs_peer_allowed(OTHER_UID, OTHER_GID));
	assert_false(privs_peer_allowed((uid_t)-1, 0));

	p.have_admin = true;
	p.admin_gid = OTHER_GID;
	p.admin_group = (char *)"sn-admins";
	privs_policy_set(&p);
	assert_true(privs_peer_allowed(OTHER_UID, OTHER_GID));
	assert_false(privs_peer_allowed(OTHER_UID, OTHER_GID + 1));
	if (nobody != NULL && root != NULL) {
		/* nobody is not in root's group in the database. */
		p.admin_gid = 0;
		privs_policy_set(&p);
		assert_false(
		        privs_peer_allowed(nobody->pw_uid, nobody->pw_gid));
		/* ... but its own primary group lets it in. */
		p.admin_gid = nobody->pw_gid;
		privs_policy_set(&p);
		assert_true(privs_peer_allowed(nobody->pw_uid, nobody->pw_gid));
	}
	privs_policy_set(NULL);
}

/* --- resolving accounts -------------------------------------------------- */

static void
test_resolve(void **state)
{
	struct sn_config cfg;
	struct privs p;
	char err[512];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), 0);
	assert_null(p.user);
	assert_false(p.have_admin);
	assert_false(privs_should_drop(&p));
	privs_free(&p);

	cfg.security.user = (char *)"no-such-user-sn";
	assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.user: no user "
	                            "\"no-such-user-sn\""));
	assert_non_null(strstr(err, "useradd"));
	privs_free(&p);

	cfg.security.user = (char *)"root";
	assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is uid 0"));
	privs_free(&p);

	if (getpwnam("nobody") != NULL && getgrnam("nogroup") != NULL) {
		cfg.security.user = (char *)"nobody";
		cfg.security.group = (char *)"nogroup";
		cfg.security.admin_group = (char *)"nogroup";
		assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), 0);
		assert_string_equal(p.user, "nobody");
		assert_int_equal(p.uid, getpwnam("nobody")->pw_uid);
		assert_int_equal(p.gid, getgrnam("nogroup")->gr_gid);
		assert_true(p.have_admin);
		assert_int_equal(p.admin_gid, getgrnam("nogroup")->gr_gid);
		assert_int_equal(privs_should_drop(&p), geteuid() == 0);
		privs_free(&p);

		cfg.security.group = (char *)"root";
		assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "gid 0"));
		privs_free(&p);
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.security.admin_group = (char *)"no-such-group-sn";
	assert_int_equal(privs_resolve(&cfg, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "security.admin_group: no group"));
	privs_free(&p);
}

/* --- switching user ------------------------------------------------------ */

static int
child_drop(void *arg)
{
	const struct privs *p = arg;
	char err[512];
	uid_t r, e, s;

	if (privs_drop(p, err, sizeof(err)) < 0) {
		fprintf(stderr, "# %s\n", err);
		return 10;
	}
	if (getresuid(&r, &e, &s) < 0 || r != p->uid || e != p->uid ||
	    s != p->uid)
		return 11;
	if (getgid() != p->gid || getegid() != p->gid)
		return 12;
	if (setuid(0) == 0 || seteuid(0) == 0 || errno != EPERM)
		return 13;
	if (setgroups(0, NULL) == 0)
		return 14;
	/* No capability left either: chown to root is refused. */
	if (chown("/tmp", 0, 0) == 0)
		return 15;
	return 0;
}

static void
test_drop_for_good(void **state)
{
	struct privs p = {0};

	(void)state;
	need_root();
	p.user = (char *)"sn-test-no-entry"; /* initgroups: just gid */
	p.uid = OTHER_UID;
	p.gid = OTHER_GID;
	assert_int_equal(in_child(child_drop, &p), 0);
}

/* --- folders ------------------------------------------------------------- */

/* A run_dir holding only the set's files is taken over; its files are
 * given over, but never through a symbolic link or a hard link. */
static void
test_prepare_run_dir(void **state)
{
	char *top = tmpdir(), run[PATH_MAX], outside[PATH_MAX];
	char p[PATH_MAX + 64];
	char err[512];
	bool took;

	(void)state;
	need_root();
	snprintf(run, sizeof(run), "%s/run", top);
	snprintf(outside, sizeof(outside), "%s/precious", top);
	assert_int_equal(mkdir(run, 0755), 0);
	touch(run, "sentinel.pid");
	touch(run, "stored.ipc");
	touch(top, "precious");
	snprintf(p, sizeof(p), "%s/detectd.ipc", run);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/alertd.ipc", run);
	assert_int_equal(link(outside, p), 0);

	assert_int_equal(privs_prepare_dir(run, PRIVS_DIR_RUN, PRIVS_ADMIN_MODE,
	                                   OTHER_UID, OTHER_GID, &took, err,
	                                   sizeof(err)),
	                 0);
	assert_true(took);
	assert_int_equal(lstat_of(run, "").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(run, "").st_gid, OTHER_GID);
	assert_int_equal(lstat_of(run, "").st_mode & 07777, PRIVS_ADMIN_MODE);
	assert_int_equal(lstat_of(run, "sentinel.pid").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(run, "stored.ipc").st_uid, OTHER_UID);
	/* Neither link led to the file outside. */
	assert_int_equal(lstat_of(top, "precious").st_uid, 0);
	assert_int_equal(lstat_of(run, "detectd.ipc").st_uid, 0);
	rm_rf(top);
	free(top);
}

/* run_dir: /tmp must not become the set's: a folder holding anything
 * else is left as it is. */
static void
test_prepare_foreign_dir(void **state)
{
	char *top = tmpdir(), err[512], theirs[PATH_MAX];
	bool took;

	(void)state;
	need_root();
	assert_int_equal(chmod(top, 01777), 0);
	touch(top, "sentinel.pid");
	touch(top, "someone-elses.txt");
	assert_int_equal(privs_prepare_dir(top, PRIVS_DIR_RUN, PRIVS_DIR_MODE,
	                                   OTHER_UID, OTHER_GID, &took, err,
	                                   sizeof(err)),
	                 0);
	assert_false(took);
	assert_int_equal(lstat_of(top, "").st_uid, 0);
	assert_int_equal(lstat_of(top, "").st_mode & 07777, 01777);
	assert_int_equal(lstat_of(top, "sentinel.pid").st_uid, 0);
	/* A data folder with no sign of the set, not empty: the same. */
	assert_int_equal(privs_prepare_dir(top, PRIVS_DIR_DATA, PRIVS_DIR_MODE,
	                                   OTHER_UID, OTHER_GID, &took, err,
	                                   sizeof(err)),
	                 0);
	assert_false(took);
	assert_int_equal(lstat_of(top, "someone-elses.txt").st_uid, 0);
	/* Another user's folder, even an empty one, is not ours. */
	snprintf(theirs, sizeof(theirs), "%s/theirs", top);
	assert_int_equal(mkdir(theirs, 0700), 0);
	assert_int_equal(chown(theirs, OTHER_UID + 1, OTHER_GID + 1), 0);
	assert_int_equal(privs_prepare_dir(theirs, PRIVS_DIR_DATA,
	                                   PRIVS_DIR_MODE, OTHER_UID, OTHER_GID,
	                                   &took, err, sizeof(err)),
	                 0);
	assert_false(took);
	assert_int_equal(lstat_of(theirs, "").st_uid, OTHER_UID + 1);
	rm_rf(top);
	free(top);
}

/* A data folder with the set's database, made by an earlier run as
 * root, is given over whole (as `chown -R` would), links excepted. */
static void
test_prepare_data_tree(void **state)
{
	char *top = tmpdir(), data[PATH_MAX], p[PATH_MAX + 64], err[512];
	bool took;

	(void)state;
	need_root();
	snprintf(data, sizeof(data), "%s/data", top);
	assert_int_equal(mkdir(data, 0755), 0);
	touch(data, "sentinel.db");
	touch(data, "sentinel.db-wal");
	snprintf(p, sizeof(p), "%s/spool", data);
	assert_int_equal(mkdir(p, 0750), 0);
	touch(p, "00000001.seg");
	touch(top, "precious");
	snprintf(p, sizeof(p), "%s/spool/link", data);
	snprintf(err, sizeof(err), "%s/precious", top);
	assert_int_equal(symlink(err, p), 0);

	assert_int_equal(privs_prepare_dir(data, PRIVS_DIR_DATA, PRIVS_DIR_MODE,
	                                   OTHER_UID, OTHER_GID, &took, err,
	                                   sizeof(err)),
	                 0);
	assert_true(took);
	assert_int_equal(lstat_of(data, "").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(data, "").st_mode & 07777, PRIVS_DIR_MODE);
	assert_int_equal(lstat_of(data, "sentinel.db").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(data, "sentinel.db-wal").st_gid, OTHER_GID);
	assert_int_equal(lstat_of(data, "spool").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(data, "spool/00000001.seg").st_uid,
	                 OTHER_UID);
	assert_int_equal(lstat_of(data, "spool/link").st_uid, 0);
	assert_int_equal(lstat_of(top, "precious").st_uid, 0);
	rm_rf(top);
	free(top);
}

/* Missing: made, parents 0755 (reachable), the folder itself mode. */
static void
test_prepare_creates(void **state)
{
	char *top = tmpdir(), p[PATH_MAX], err[512];
	bool took;

	(void)state;
	need_root();
	snprintf(p, sizeof(p), "%s/var/lib/sentinel", top);
	assert_int_equal(privs_prepare_dir(p, PRIVS_DIR_DATA, PRIVS_DIR_MODE,
	                                   OTHER_UID, OTHER_GID, &took, err,
	                                   sizeof(err)),
	                 0);
	assert_true(took);
	assert_int_equal(lstat_of(p, "").st_uid, OTHER_UID);
	assert_int_equal(lstat_of(p, "").st_mode & 07777, 0750);
	assert_int_equal(lstat_of(top, "var/lib").st_mode & 07777, 0755);
	assert_int_equal(lstat_of(top, "var/lib").st_uid, 0);
	rm_rf(top);
	free(top);
}

/* --- privileged port ----------------------------------------------------- */

static void
test_listen_tcp(void **state)
{
	char err[256];
	int fd, on = 0;
	socklen_t len = sizeof(on);

	(void)state;
	fd = privs_listen_tcp("127.0.0.1", 0, err, sizeof(err));
	assert_true(fd >= 10);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len),
	                 0);
	assert_true(on);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	assert_int_equal(
	        privs_listen_tcp("no.such.host.invalid", 80, err, sizeof(err)),
	        -1);
	assert_true(err[0] != '\0');
}

/* --- sandbox ------------------------------------------------------------- */

struct ll_case {
	const char *allowed; /* folder writes are confined to */
	const char *other;   /* a folder outside it */
	int port;            /* a TCP listener on 127.0.0.1 */
};

/*
 * In a child: confines itself and tries.  Exit status bits: 0 a write
 * inside failed, 1 a write outside went otherwise than the sandbox says,
 * 2 a TCP connect likewise, 3 a read outside failed, 4 landlock refused,
 * 5 a rename outside went otherwise than the sandbox says; bit 6: writes
 * were confined.
 */
static int
child_landlock(void *arg)
{
	const struct ll_case *c = arg;
	const char *dirs[] = {c->allowed, NULL};
	struct sockaddr_in sin;
	char p[PATH_MAX], q[PATH_MAX];
	int bits, abi, fd, rv = 0, s;

	bits = privs_landlock(dirs, true, &abi);
	if (bits < 0)
		return 1 << 4;
	snprintf(p, sizeof(p), "%s/inside", c->allowed);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0600)) < 0)
		rv |= 1 << 0;
	else
		close(fd);
	snprintf(p, sizeof(p), "%s/outside", c->other);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	if ((bits & PRIVS_SANDBOX_FS) ? fd >= 0 || errno != EACCES : fd < 0)
		rv |= 1 << 1;
	if (fd >= 0)
		close(fd);
	/* Reading stays free. */
	snprintf(p, sizeof(p), "%s/readme", c->other);
	if ((fd = open(p, O_RDONLY)) < 0)
		rv |= 1 << 3;
	else
		close(fd);
	/* Renaming a file outside is a write too. */
	snprintf(q, sizeof(q), "%s/renamed", c->other);
	if ((rename(p, q) == 0) == ((bits & PRIVS_SANDBOX_FS) != 0))
		rv |= 1 << 5;
	s = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)c->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0) ==
	    ((bits & PRIVS_SANDBOX_TCP) != 0))
		rv |= 1 << 2;
	close(s);
	/* What was enforced, for the parent to compare with the ABI. */
	return rv | (bits & PRIVS_SANDBOX_FS ? 1 << 6 : 0);
}

static void
test_landlock_confines(void **state)
{
	struct ll_case c;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char *a = tmpdir(), *b = tmpdir();
	int ls, abi, rv;

	(void)state;
	touch(b, "readme");
	ls = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 8), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &len), 0);
	c.allowed = a;
	c.other = b;
	c.port = ntohs(sin.sin_port);

	rv = in_child(child_landlock, &c);
	/* Learn the ABI without restricting ourselves: no rights, no
	 * ruleset is made. */
	assert_int_equal(privs_landlock(NULL, false, &abi), 0);
	print_message("# landlock abi %d, child status 0x%x\n", abi, rv);
	/* abi 0 (no Landlock): fails open, everything allowed and the
	 * child checked exactly that. */
	assert_int_equal(rv & 0x3f, 0);
	assert_int_equal((rv >> 6) & 1, abi > 0);
	close(ls);
	rm_rf(a);
	rm_rf(b);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decide_root_and_self),
	        cmocka_unit_test(test_decide_strangers),
	        cmocka_unit_test(test_decide_admin_members),
	        cmocka_unit_test(test_peer_allowed_live),
	        cmocka_unit_test(test_resolve),
	        cmocka_unit_test(test_drop_for_good),
	        cmocka_unit_test(test_prepare_run_dir),
	        cmocka_unit_test(test_prepare_foreign_dir),
	        cmocka_unit_test(test_prepare_data_tree),
	        cmocka_unit_test(test_prepare_creates),
	        cmocka_unit_test(test_listen_tcp),
	        cmocka_unit_test(test_landlock_confines),
	};

	log_init("test", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
