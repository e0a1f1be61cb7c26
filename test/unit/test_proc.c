/*
 * test_proc.c: the supervisor's restart policy (supervisor/proc.c),
 * driven with made-up times: backoff doubles from 100 ms to a 30 s cap,
 * starts over after 60 s up, exit 2 is final, a signal death restarts,
 * and a stop during backoff cancels the restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "../../supervisor/proc.h"

#define EXITED(code) W_EXITCODE(code, 0)
#define KILLED(sig)  (sig)

/* A child of the table's first entry, stopped at time 0. */
static struct proc
fresh(void)
{
	struct proc p;

	proc_init(&p, &proc_table[0], 0);
	return p;
}

/* Spawns p at now, makes it up at now + up_after, kills it at now + life
 * with wstatus; returns the action and sets *delay. */
static enum proc_action
run_once(struct proc *p, int64_t *now, int64_t up_after, int64_t life,
         int wstatus, int64_t *delay)
{
	proc_on_spawn(p, 1234, *now);
	if (up_after >= 0)
		assert_true(proc_on_ready(p, *now + up_after));
	*now += life;
	return proc_on_exit(p, *now, wstatus, delay);
}

static void
test_table_orders(void **state)
{
	(void)state;
	assert_string_equal(proc_table[0].name, "stored");
	assert_string_equal(proc_table[3].name, "ingestd");
	assert_string_equal(proc_table[0].exe, "sentinel-stored");
	/* Ingest stops first, storage last. */
	assert_string_equal(proc_table[proc_stop_order[0]].name, "ingestd");
	assert_string_equal(proc_table[proc_stop_order[1]].name, "detectd");
	assert_string_equal(proc_table[proc_stop_order[2]].name, "alertd");
	assert_string_equal(proc_table[proc_stop_order[3]].name, "stored");
	assert_int_equal(proc_find("alertd"), 1);
	assert_int_equal(proc_find("nope"), -1);
}

static void
test_spawn_ready_up(void **state)
{
	struct proc p = fresh();

	(void)state;
	assert_int_equal(p.state, SN_DAEMON_STOPPED);
	assert_false(proc_running(&p));
	proc_on_spawn(&p, 42, 10);
	assert_int_equal(p.state, SN_DAEMON_STARTING);
	assert_int_equal(p.pid, 42);
	assert_true(proc_running(&p));
	assert_true(proc_on_ready(&p, 20));
	assert_int_equal(p.state, SN_DAEMON_UP);
	assert_int_equal(p.since_ms, 20);
	/* A second READY changes nothing. */
	assert_false(proc_on_ready(&p, 30));
	assert_int_equal(p.since_ms, 20);
	assert_int_equal(p.restarts, 0);
}

static void
test_backoff_doubles_to_cap(void **state)
{
	static const int64_t want[] = {100,  200,   400,   800,   1600,  3200,
	                               6400, 12800, 25600, 30000, 30000, 30000};
	struct proc p = fresh();
	int64_t now = 0, delay;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* Up for 1 s each time: not a healthy stretch. */
		assert_int_equal(
		        run_once(&p, &now, 10, 1000, EXITED(1), &delay),
		        PROC_ACT_RESTART);
		assert_int_equal(delay, want[i]);
		assert_int_equal(p.state, SN_DAEMON_BACKOFF);
		assert_int_equal(p.pid, 0);
		now += delay;
	}
	assert_int_equal(p.restarts, i - 1);
}

static void
test_backoff_resets_after_healthy_minute(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay;
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		run_once(&p, &now, 10, 500, EXITED(1), &delay);
		now += delay;
	}
	assert_int_equal(delay, 1600);
	/* Up 59.9 s: still counts as crashing. */
	run_once(&p, &now, 0, 59999, EXITED(1), &delay);
	assert_int_equal(delay, 3200);
	now += delay;
	/* Up a full minute: starts over at 100 ms. */
	run_once(&p, &now, 0, PROC_HEALTHY_MS, EXITED(1), &delay);
	assert_int_equal(delay, 100);
	now += delay;
	run_once(&p, &now, 0, 10, EXITED(1), &delay);
	assert_int_equal(delay, 200);
}

static void
test_healthy_means_up_not_just_running(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay;

	(void)state;
	run_once(&p, &now, 10, 10, EXITED(1), &delay);
	now += delay;
	run_once(&p, &now, 10, 10, EXITED(1), &delay);
	assert_int_equal(delay, 200);
	now += delay;
	/* Ran two minutes but never said READY: no reset. */
	run_once(&p, &now, -1, 120000, EXITED(1), &delay);
	assert_int_equal(delay, 400);
}

static void
test_exit_2_is_failed(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay = -1;

	(void)state;
	assert_int_equal(run_once(&p, &now, 10, 50, EXITED(2), &delay),
	                 PROC_ACT_NONE);
	assert_int_equal(p.state, SN_DAEMON_FAILED);
	assert_int_equal(delay, 0);
	assert_false(proc_running(&p));
	assert_true(p.exited);
	/* A failed daemon has nothing to stop. */
	assert_int_equal(proc_on_stop(&p, now), PROC_ACT_NONE);
	assert_int_equal(p.state, SN_DAEMON_FAILED);
}

static void
test_exit_2_before_ready_is_failed(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay;

	(void)state;
	assert_int_equal(run_once(&p, &now, -1, 5, EXITED(2), &delay),
	                 PROC_ACT_NONE);
	assert_int_equal(p.state, SN_DAEMON_FAILED);
}

static void
test_signal_death_restarts(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay;
	char buf[32];

	(void)state;
	assert_int_equal(run_once(&p, &now, 10, 100, KILLED(9), &delay),
	                 PROC_ACT_RESTART);
	assert_int_equal(p.state, SN_DAEMON_BACKOFF);
	assert_int_equal(delay, 100);
	assert_string_equal(proc_status_str(p.last_status, buf, sizeof(buf)),
	                    "signal 9");
	/* Exit 0 out of turn is a crash too: the set must keep running. */
	now += delay;
	assert_int_equal(run_once(&p, &now, 10, 100, EXITED(0), &delay),
	                 PROC_ACT_RESTART);
	assert_string_equal(proc_status_str(p.last_status, buf, sizeof(buf)),
	                    "exit 0");
	assert_int_equal(p.restarts, 1);
}

static void
test_stop_during_backoff_cancels(void **state)
{
	struct proc p = fresh();
	int64_t now = 0, delay;

	(void)state;
	run_once(&p, &now, 10, 100, EXITED(1), &delay);
	assert_int_equal(proc_on_stop(&p, now + 50), PROC_ACT_CANCEL);
	assert_int_equal(p.state, SN_DAEMON_STOPPED);
	assert_int_equal(proc_on_stop(&p, now + 60), PROC_ACT_NONE);
}

static void
test_stop_running_then_exit_is_stopped(void **state)
{
	struct proc p = fresh();
	int64_t delay;

	(void)state;
	proc_on_spawn(&p, 77, 0);
	assert_true(proc_on_ready(&p, 5));
	assert_int_equal(proc_on_stop(&p, 100), PROC_ACT_SIGNAL);
	assert_int_equal(p.state, SN_DAEMON_STOPPING);
	assert_true(proc_running(&p));
	/* A second stop does not signal twice. */
	assert_int_equal(proc_on_stop(&p, 110), PROC_ACT_NONE);
	/* READY arriving late does not bring it back up. */
	assert_false(proc_on_ready(&p, 120));
	/* Whatever the status (even SIGKILL after the timeout): stopped. */
	assert_int_equal(proc_on_exit(&p, 200, KILLED(9), &delay),
	                 PROC_ACT_NONE);
	assert_int_equal(p.state, SN_DAEMON_STOPPED);
	assert_int_equal(p.pid, 0);

	/* A child still starting is signalled as well. */
	proc_on_spawn(&p, 78, 300);
	assert_int_equal(proc_on_stop(&p, 310), PROC_ACT_SIGNAL);
	assert_int_equal(proc_on_exit(&p, 320, EXITED(2), &delay),
	                 PROC_ACT_NONE);
	assert_int_equal(p.state, SN_DAEMON_STOPPED);
}

static void
test_status_strings(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(proc_status_str(EXITED(1), buf, sizeof(buf)),
	                    "exit 1");
	assert_string_equal(proc_status_str(KILLED(15), buf, sizeof(buf)),
	                    "signal 15");
	assert_string_equal(
	        proc_status_str(KILLED(11) | 0x80, buf, sizeof(buf)),
	        "signal 11 (core)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_orders),
	        cmocka_unit_test(test_spawn_ready_up),
	        cmocka_unit_test(test_backoff_doubles_to_cap),
	        cmocka_unit_test(test_backoff_resets_after_healthy_minute),
	        cmocka_unit_test(test_healthy_means_up_not_just_running),
	        cmocka_unit_test(test_exit_2_is_failed),
	        cmocka_unit_test(test_exit_2_before_ready_is_failed),
	        cmocka_unit_test(test_signal_death_restarts),
	        cmocka_unit_test(test_stop_during_backoff_cancels),
	        cmocka_unit_test(test_stop_running_then_exit_is_stopped),
	        cmocka_unit_test(test_status_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
