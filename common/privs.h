/*
 * privs.h: who the daemon set runs as, and who may talk to it
 * (docs/operations.md "Security").
 *
 *   Peers.  Every local control surface (the supervisor's sentinel.sock,
 *   the daemons' nng ipc endpoints) serves root, the set's own uid, and
 *   members of security.admin_group; nobody else.  privs_peer_decide is
 *   the rule as a pure function; privs_peer_allowed applies it to a live
 *   peer, looking its groups up in the group database.
 *
 *   Root.  Started as root with security.user, the supervisor prepares
 *   run_dir and storage.path for that user, binds what needs root (a
 *   privileged HTTP port, handed to ingestd as an inherited descriptor)
 *   and switches for good before it forks anything (privs_drop).  A
 *   daemon started by hand as root switches in daemon_init.
 *
 *   Sandbox.  Every daemon sets PR_SET_NO_NEW_PRIVS and, where the kernel
 *   has Landlock, narrows where it may write and whether it may use TCP
 *   (privs_sandbox; the table in privs.c says which daemon gets what).
 *   ingestd and detectd write beneath run_dir, storage.path and
 *   spool.path only; detectd and stored open no TCP connection.  A
 *   daemon that starts writing elsewhere or speaking TCP must change its
 *   entry there (the failure is EACCES).
 */
#ifndef SN_PRIVS_H
#define SN_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

#define PRIVS_SOCKET_MODE 0660 /* every socket file in run_dir */
#define PRIVS_DIR_MODE    0750 /* run_dir and storage.path we create */
#define PRIVS_ADMIN_MODE                                 \
	02750 /* run_dir with an admin group: setgid, so \
	         the sockets in it get that group */

/* The environment variable naming ingestd's inherited HTTP listener. */
#define PRIVS_HTTP_FD_ENV "SENTINEL_HTTP_FD"
#define PRIVS_HTTP_FD     4 /* where the supervisor puts it */
#define PRIVS_HTTP_FD_STR "4"

/* config->security resolved against this machine's accounts. */
struct privs {
	char *user; /* security.user, NULL when not set */
	uid_t uid;
	gid_t gid; /* security.group, or the user's primary group */
	char *group;
	bool have_admin; /* security.admin_group set */
	gid_t admin_gid;
	char *admin_group;
};

/*
 * Looks security.user, .group and .admin_group up.  Returns 0, or -1
 * with err set (an unknown name, or a name that is root's).  Free with
 * privs_free either way.
 */
int privs_resolve(const struct sn_config *cfg, struct privs *p, char *err,
                  size_t errsize);
void privs_free(struct privs *p);

/* True when this process runs as root and a user to switch to is set. */
bool privs_should_drop(const struct privs *p);

/*
 * Switches to p's user for good: supplementary groups as the group
 * database gives them (as systemd's User= does), then the group, then
 * the user; then checks that root cannot be regained.  Returns 0, or -1
 * with err set (the caller must not go on).
 */
int privs_drop(const struct privs *p, char *err, size_t errsize);

/* PR_SET_NO_NEW_PRIVS on this process (and what it forks and execs). */
void privs_no_new_privs(void);

/* --- peers ---------------------------------------------------------------- */

/*
 * The rule: may a peer with peer_uid, primary group peer_gid and
 * supplementary groups groups[0..ngroups) use a control surface of a
 * process running as own_uid?  Root and own_uid may; with have_admin,
 * so may members of admin_gid.  A peer whose uid is unknown ((uid_t)-1)
 * may not.
 */
bool privs_peer_decide(uid_t peer_uid, gid_t peer_gid, const gid_t *groups,
                       size_t ngroups, uid_t own_uid, bool have_admin,
                       gid_t admin_gid);

/* Sets the admin group privs_peer_allowed uses (from p; none when p is
 * NULL).  Call once at start, before threads. */
void privs_policy_set(const struct privs *p);

/*
 * privs_peer_decide for a live peer of this process: its supplementary
 * groups are those the group database gives its user (getgrouplist),
 * looked up only when they can matter.  Safe from any thread.
 */
bool privs_peer_allowed(uid_t uid, gid_t gid);

/* "root, uid N or group G" for messages; returns buf. */
const char *privs_policy_describe(char *buf, size_t size);

/* --- directories and sockets --------------------------------------------- */

/* What privs_prepare_dir makes of a folder. */
enum privs_dir_kind {
	/* run_dir: the set's own only when it holds nothing but the set's
	 * sockets and pid file; those files are given over. */
	PRIVS_DIR_RUN,
	/* storage.path, spool.path: the set's own when empty, already the
	 * user's, or holding sentinel.db or alerts.db; the whole tree is
	 * given over (no symbolic link followed). */
	PRIVS_DIR_DATA,
};

/*
 * Makes path a folder the set can use: creates it when missing (missing
 * parents 0755, so that the set's user and admins can reach it; path
 * itself mode).  When path is the set's own (just created, or owned by
 * root, us or uid and looking like the set's by kind), gives it to
 * uid:gid ((uid_t)-1 / (gid_t)-1: leave as is), sets mode, and gives
 * over what is in it (kind).  A folder that is not the set's own is
 * left alone (*took false): the caller checks whether the user can
 * write there.  Never changes a file with several links.  Returns 0, or
 * -1 with err set.
 */
int privs_prepare_dir(const char *path, enum privs_dir_kind kind, unsigned mode,
                      uid_t uid, gid_t gid, bool *took, char *err,
                      size_t errsize);

/*
 * A listening TCP socket on host:port (the first address host resolves
 * to, as libevent's evhttp_bind_socket does), close-on-exec, at
 * descriptor 10 or above.  Returns it, or -1 with err set.
 */
int privs_listen_tcp(const char *host, int port, char *err, size_t errsize);

/* --- sandbox ---------------------------------------------------------------
 */

#define PRIVS_SANDBOX_FS  0x1 /* writes confined to one folder */
#define PRIVS_SANDBOX_TCP 0x2 /* TCP bind and connect denied */

/*
 * Restricts this process, and the threads and children it makes after
 * the call, with Landlock: with write_dirs (NULL-terminated), creating,
 * writing, truncating, removing and renaming files is allowed only
 * beneath them (reading stays free); with no_tcp, binding and connecting
 * TCP sockets is denied (from Landlock ABI 4, Linux 6.7).  Sets
 * PR_SET_NO_NEW_PRIVS first.  Returns the PRIVS_SANDBOX_* bits now
 * enforced (0 when the kernel has no Landlock: nothing is restricted,
 * the caller says so and goes on), or -1 with errno when the kernel
 * refused (nothing is restricted either).  *abi is the kernel's Landlock
 * ABI version, 0 without Landlock.
 */
int privs_landlock(const char *const *write_dirs, bool no_tcp, int *abi);

/*
 * NO_NEW_PRIVS and the Landlock policy (privs.c's table) of the daemon
 * name ("ingestd", "detectd", "stored", "alertd"), unless
 * security.landlock is false; logs one line saying what is in force.
 * Fails open: a kernel without Landlock costs a log line, never the
 * daemon.  Creates the set's folders (run_dir, storage.path,
 * spool.path) a confined daemon may write.
 */
void privs_sandbox(const char *name, const struct sn_config *cfg);

#endif
