/*
 * sentinel: the supervisor of the daemon set (stored, alertd, detectd,
 * ingestd).  It forks them, restarts them when they die, stops them in
 * order, reloads the config on SIGHUP and answers sentinel-cli on the
 * control socket.  No event passes through it.
 *
 *   sentinel [--config FILE]                 run the set
 *   sentinel --check-config [--config FILE]  validate, like nginx -t
 *   sentinel version                         print the version
 *
 * Started as root with security.user, it switches to that user before
 * it forks anything (sup_init; docs/operations.md "Security").
 *
 * Exit codes: 0 stopped cleanly or config ok, 1 --check-config found
 * errors, 2 usage error or refusing to start (bad config, missing
 * executable, run_dir in use by another set, unknown security.user, a
 * file the user cannot read or write).
 */
#include <getopt.h>
#include <stdbool.h>
#ifdef SN_MULTICALL
#include <sys/prctl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "multicall.h"
#include "privs.h"
#include "sup.h"

#define SUP_EXIT_REFUSED 2

static void
usage(FILE *f)
{
	fprintf(f, "usage: sentinel [--config FILE]\n"
	           "       sentinel --check-config [--config FILE]\n"
	           "       sentinel version\n");
}

/* Prints the config errors, one "file:line: key: problem" a line. */
static void
print_errors(const struct sn_cfg_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		fprintf(stderr, "%s\n", errs->msgs[i]);
}

#ifdef SN_MULTICALL
/*
 * `sentinel --run-daemon NAME ARGS...` (multicall.h): runs that daemon's
 * main with argv[0] "sentinel-NAME" and the process named so, as if its
 * own executable had been started.  -1 when argv is not such a call.
 */
static int
run_daemon(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int, char **);
	} daemons[] = {
	        {"ingestd", sn_ingestd_main},
	        {"detectd", sn_detectd_main},
	        {"stored", sn_stored_main},
	        {"alertd", sn_alertd_main},
	};
	static char name[32];
	size_t i;

	if (argc < 3 || strcmp(argv[1], SN_RUN_DAEMON_OPT) != 0)
		return -1;
	for (i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++)
		if (strcmp(argv[2], daemons[i].name) == 0) {
			snprintf(name, sizeof(name), "sentinel-%s",
			         daemons[i].name);
			/* comm as sentinel-<daemon>'s would be (15 bytes) */
			prctl(PR_SET_NAME, name);
			argv[2] = name;
			return daemons[i].main(argc - 2, argv + 2);
		}
	fprintf(stderr, "sentinel: %s: unknown daemon %s\n", SN_RUN_DAEMON_OPT,
	        argv[2]);
	return 2;
}
#endif

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check-config", no_argument, NULL, 't'},
	        {"version", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	struct privs privs = {0};
	struct sup sup;
	char perr[512];
	const char *config_path = NULL;
	bool check = false, version = false;
	size_t i;
	int ch, rv;

#ifdef SN_MULTICALL
	sup_multicall = 1;
	if ((rv = run_daemon(argc, argv)) >= 0)
		return rv;
#endif
	/* Arguments. */
	while ((ch = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'v':
			version = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "version") == 0) {
		version = true;
		optind++;
	}
	if (optind != argc) {
		fprintf(stderr, "sentinel: unexpected argument: %s\n",
		        argv[optind]);
		usage(stderr);
		return 2;
	}
	if (version) {
		printf("sentinel %s\n", SENTINEL_VERSION);
		return 0;
	}

	/* Configuration: known good before anything is forked. */
	cfg = config_load(config_path, &errs);
	if (check) {
		print_errors(&errs);
		cfg_errors_free(&errs);
		/* security.*'s names must exist here, as at start. */
		if (cfg != NULL &&
		    privs_resolve(cfg, &privs, perr, sizeof(perr)) < 0) {
			fprintf(stderr, "%s\n", perr);
			config_free(cfg);
			cfg = NULL;
		}
		privs_free(&privs);
		if (cfg == NULL) {
			fprintf(stderr, "configuration invalid\n");
			return 1;
		}
		config_free(cfg);
		printf("configuration ok\n");
		return 0;
	}
	log_init("supervisor", LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	if (cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			log_error("%s", errs.msgs[i]);
		cfg_errors_free(&errs);
		log_error("configuration invalid, not starting");
		return SUP_EXIT_REFUSED;
	}
	cfg_errors_free(&errs);
	log_set_level((enum log_level)cfg->obs.log_level);
	log_set_format((enum log_format)cfg->obs.log_format);

	/* Executables, run_dir lock, sockets, loop: then fork. */
	if (sup_init(&sup, cfg, config_path) < 0) {
		sup_free(&sup);
		log_error("not starting");
		return SUP_EXIT_REFUSED;
	}
	log_ring_open(sup.run_dir, "sentinel");
	sup_start(&sup);
	rv = sup_run(&sup);
	sup_free(&sup);
	log_info("exiting");
	return rv;
}
