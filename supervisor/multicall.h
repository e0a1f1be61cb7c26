/*
 * multicall.h: the daemons inside the sentinel binary.
 *
 * `sentinel` also carries the four daemons (each daemon's main.c built a
 * second time with main renamed, Makefile "multi-call"), so that the
 * binary alone, moved anywhere (the deployment guide's `mv sentinel
 * /usr/local/bin/`), can run the set: when the supervisor finds no
 * sentinel-<daemon> executable beside itself or in ../libexec/sentinel,
 * it runs itself as `sentinel --run-daemon <name> [--config FILE]`.
 * Separate executables are preferred when present: a daemon run from
 * this binary maps every daemon's libraries (gRPC's among them), about
 * 12 MB more resident memory each.  So only the release tarball's
 * sentinel is built this way (`make dist`, $(BUILD)/dist/sentinel, with
 * SN_MULTICALL defined for supervisor/main.c); `make install`, the
 * package and the image install the lean one and the four daemons.
 */
#ifndef SN_MULTICALL_H
#define SN_MULTICALL_H

/* The option that selects a daemon; internal, never typed by users. */
#define SN_RUN_DAEMON_OPT "--run-daemon"

/* Set by the multi-call binary's main: sup.c may then run itself. */
extern int sup_multicall;

int sn_ingestd_main(int argc, char **argv);
int sn_detectd_main(int argc, char **argv);
int sn_stored_main(int argc, char **argv);
int sn_alertd_main(int argc, char **argv);

#endif
