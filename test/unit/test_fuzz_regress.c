/*
 * test_fuzz_regress.c: every input of the fuzz targets' seed corpora
 * (test/fuzz/corpus/NAME/) and every crash kept after its fix
 * (test/fuzz/regress/NAME/) goes through the same entry point libFuzzer
 * calls, built with the ordinary compiler: `make test` and `make asan`
 * keep the fixed crashes fixed without clang or libFuzzer
 * (docs/fuzzing.md).
 *
 * Each target file is included here with its LLVMFuzzerTestOneInput
 * renamed; a target checks its own invariants and aborts when one
 * breaks, which fails this program.  SN_FUZZ_DIR names the folder
 * holding corpus/ and regress/ (default: test/fuzz beside this file).
 */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput fuzz_event_one
#include "../fuzz/fuzz_event.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_ctl_one
#include "../fuzz/fuzz_ctl.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_msg_one
#include "../fuzz/fuzz_msg.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_jscan_one
#include "../fuzz/fuzz_jscan.c"
#undef LLVMFuzzerTestOneInput

static char fuzz_dir[PATH_MAX];

/* Reads path into a buffer of exactly its size, as libFuzzer passes an
 * input (ASan then sees any read past its end).  NULL on error. */
static uint8_t *
read_input(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Feeds every file of fuzz_dir/kind/name to one; returns how many. */
static size_t
replay(const char *kind, const char *name, int (*one)(const uint8_t *, size_t))
{
	struct dirent **list;
	char dir[PATH_MAX + 64], path[2 * PATH_MAX];
	uint8_t *buf;
	size_t len = 0, done = 0;
	int i, n;

	if (snprintf(dir, sizeof(dir), "%s/%s/%s", fuzz_dir, kind, name) >=
	    (int)sizeof(dir))
		fail_msg("path too long: %s", fuzz_dir);
	if ((n = scandir(dir, &list, NULL, by_name)) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			             list[i]->d_name) >= (int)sizeof(path))
				fail_msg("path too long: %s", dir);
			/* named before it runs: an abort ends the output */
			fprintf(stderr, "# %s\n", path);
			buf = read_input(path, &len);
			if (buf == NULL)
				fail_msg("cannot read %s", path);
			assert_int_equal(one(buf, len), 0);
			free(buf);
			done++;
		}
		free(list[i]);
	}
	free(list);
	return done;
}

/* The seed corpus must be there; regress/ may be empty. */
static void
replay_target(const char *name, int (*one)(const uint8_t *, size_t))
{
	size_t seeds = replay("corpus", name, one);
	size_t kept = replay("regress", name, one);

	if (seeds == 0)
		fail_msg("no seed inputs under %s/corpus/%s", fuzz_dir, name);
	printf("# fuzz_%s: %zu seeds and %zu kept crashes replayed\n", name,
	       seeds, kept);
}

static void
test_fuzz_event(void **state)
{
	(void)state;
	replay_target("event", fuzz_event_one);
}

static void
test_fuzz_config(void **state)
{
	(void)state;
	replay_target("config", fuzz_config_one);
}

static void
test_fuzz_ctl(void **state)
{
	(void)state;
	replay_target("ctl", fuzz_ctl_one);
}

static void
test_fuzz_jscan(void **state)
{
	(void)state;
	replay_target("jscan", fuzz_jscan_one);
}

static void
test_fuzz_msg(void **state)
{
	(void)state;
	replay_target("msg", fuzz_msg_one);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fuzz_event),
	        cmocka_unit_test(test_fuzz_config),
	        cmocka_unit_test(test_fuzz_ctl),
	        cmocka_unit_test(test_fuzz_msg),
	        cmocka_unit_test(test_fuzz_jscan),
	};
	const char *env = getenv("SN_FUZZ_DIR");
	char here[PATH_MAX], *dir;
	int n;

	if (env != NULL)
		n = snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", env);
	else {
		/* __FILE__ is test/unit/..., relative to the top of the
		 * tree, where make compiles and run-tests.sh runs */
		dir = sn_path_dirname(__FILE__);
		if (dir[0] != '/' && getcwd(here, sizeof(here)) != NULL)
			n = snprintf(fuzz_dir, sizeof(fuzz_dir),
			             "%s/%s/../fuzz", here, dir);
		else
			n = snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/../fuzz",
			             dir);
		free(dir);
	}
	if (n < 0 || (size_t)n >= sizeof(fuzz_dir)) {
		fprintf(stderr, "test_fuzz_regress: path too long\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
