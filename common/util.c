/*
 * util.c: clocks, timestamps, durations, sizes, paths, buffers, readiness.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int64_t
sn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sn_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
sn_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sn_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t
sn_fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Reads exactly n digits at *p; -1 when any is not a digit. */
static int
digits(const char **p, const char *end, int n)
{
	int v = 0;

	if (end - *p < n)
		return -1;
	while (n-- > 0) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
sn_rfc3339_parse(const char *s, size_t len, int64_t *out_ms)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, sec, ms = 0, oh, om, sign, scale;
	int64_t t;

	if ((y = digits(&p, end, 4)) < 0 || p >= end || *p++ != '-')
		return -1;
	if ((mo = digits(&p, end, 2)) < 0 || p >= end || *p++ != '-')
		return -1;
	if ((d = digits(&p, end, 2)) < 0 || p >= end)
		return -1;
	if (*p != 'T' && *p != 't')
		return -1;
	p++;
	if ((h = digits(&p, end, 2)) < 0 || p >= end || *p++ != ':')
		return -1;
	if ((mi = digits(&p, end, 2)) < 0 || p >= end || *p++ != ':')
		return -1;
	if ((sec = digits(&p, end, 2)) < 0 || p >= end)
		return -1;
	if (*p == '.') {
		p++;
		if (p >= end || !isdigit((unsigned char)*p))
			return -1;
		for (scale = 100; p < end && isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
		if (p >= end)
			return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
		return -1;
	if (sec == 60) /* a leap second folds onto the next second */
		sec = 59, ms = 999;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if ((oh = digits(&p, end, 2)) < 0 || p >= end || *p++ != ':')
			return -1;
		if ((om = digits(&p, end, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		t -= sign * (oh * 3600 + om * 60);
	} else
		return -1;
	if (p != end)
		return -1;
	*out_ms = t * 1000 + ms;
	return 0;
}

void
sn_rfc3339_format(int64_t ms, char *buf, size_t size)
{
	/* Floor division without ms - 999, which overflows near INT64_MIN
	 * (a malformed message can carry any time). */
	int64_t sec = ms / 1000, days, y, m, d, era, doe, yoe, doy, mp;
	int frac = (int)(ms % 1000), sod;
	char *p = buf;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	days = sec / 86400;
	sod = (int)(sec % 86400);
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/*
	 * The civil date of a day number (days since 1970-01-01) in the
	 * proleptic Gregorian calendar, as in Howard Hinnant's
	 * civil_from_days: no gmtime_r, whose time zone lock and snprintf
	 * cost about 3 500 instructions a call in alertd's and stored's
	 * hot paths.  Years outside 0..9999 take the old path.
	 */
	days += 719468; /* from 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	if (y < 0 || y > 9999 || size < 25) {
		time_t t = (time_t)sec;
		struct tm tm;

		if (gmtime_r(&t, &tm) == NULL) {
			snprintf(buf, size, "%s", "");
			return;
		}
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
		return;
	}
#define RFC_PUT2(v) \
	(*p++ = (char)('0' + (v) / 10), *p++ = (char)('0' + (v) % 10))
	RFC_PUT2((int)(y / 100));
	RFC_PUT2((int)(y % 100));
	*p++ = '-';
	RFC_PUT2((int)m);
	*p++ = '-';
	RFC_PUT2((int)d);
	*p++ = 'T';
	RFC_PUT2(sod / 3600);
	*p++ = ':';
	RFC_PUT2(sod / 60 % 60);
	*p++ = ':';
	RFC_PUT2(sod % 60);
	*p++ = '.';
	*p++ = (char)('0' + frac / 100);
	RFC_PUT2(frac % 100);
	*p++ = 'Z';
	*p = '\0';
#undef RFC_PUT2
}

static const struct {
	const char *name;
	int64_t ms;
} duration_units[] = {
        {"ms", 1},      {"s", 1000},     {"m", 60000},
        {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
};

int
sn_duration_parse(const char *s, int64_t *out_ms)
{
	int64_t total = 0, n;
	size_t i, ulen;
	const char *u;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	while (*s) {
		if (!isdigit((unsigned char)*s))
			return -1;
		for (n = 0; isdigit((unsigned char)*s); s++) {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*s - '0');
		}
		for (u = s; *s && isalpha((unsigned char)*s); s++)
			;
		ulen = (size_t)(s - u);
		for (i = 0; i < SN_ARRAY_LEN(duration_units); i++)
			if (strlen(duration_units[i].name) == ulen &&
			    strncmp(duration_units[i].name, u, ulen) == 0)
				break;
		if (i == SN_ARRAY_LEN(duration_units))
			return -1;
		if (n > (INT64_MAX - total) / duration_units[i].ms)
			return -1;
		total += n * duration_units[i].ms;
	}
	*out_ms = total;
	return 0;
}

void
sn_duration_format(int64_t ms, char *buf, size_t size)
{
	size_t i;

	for (i = SN_ARRAY_LEN(duration_units); i-- > 1;)
		if (ms != 0 && ms % duration_units[i].ms == 0 &&
		    duration_units[i].ms != 604800000) {
			snprintf(buf, size, "%lld%s",
			         (long long)(ms / duration_units[i].ms),
			         duration_units[i].name);
			return;
		}
	snprintf(buf, size, "%lldms", (long long)ms);
}

int
sn_size_parse(const char *s, uint64_t *out)
{
	uint64_t n = 0, mul = 1;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '\0' || strcmp(p, "B") == 0)
		mul = 1;
	else if (strcmp(p, "K") == 0 || strcmp(p, "KB") == 0 ||
	         strcmp(p, "KiB") == 0)
		mul = 1024;
	else if (strcmp(p, "M") == 0 || strcmp(p, "MB") == 0 ||
	         strcmp(p, "MiB") == 0)
		mul = 1024 * 1024;
	else if (strcmp(p, "G") == 0 || strcmp(p, "GB") == 0 ||
	         strcmp(p, "GiB") == 0)
		mul = 1024 * 1024 * 1024;
	else
		return -1;
	if (n > UINT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

char *
sn_path_resolve(const char *base_dir, const char *path)
{
	char *out;
	size_t n;

	if (path[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
		return sn_xstrdup(path);
	n = strlen(base_dir) + strlen(path) + 2;
	out = sn_xmalloc(n);
	snprintf(out, n, "%s/%s", base_dir, path);
	return out;
}

char *
sn_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *out;

	if (slash == NULL)
		return sn_xstrdup(".");
	if (slash == path)
		return sn_xstrdup("/");
	out = sn_xmalloc((size_t)(slash - path) + 1);
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return out;
}

int
sn_random_bytes(void *p, size_t n)
{
	unsigned char *b = p;
	size_t got = 0;
	ssize_t r;
	int fd;

	while (got < n) {
		r = getrandom(b + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return 0;
	/* a kernel without getrandom(2) */
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	got = 0;
	while (got < n) {
		r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got < n) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
sn_fsync_dir(const char *path)
{
	char *dir = sn_path_dirname(path);
	int fd, rc = -1, e;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		rc = fsync(fd);
		e = errno;
		close(fd);
		errno = e;
	}
	free(dir);
	return rc;
}

int
sn_write_file_atomic(const char *path, const void *data, size_t len,
                     unsigned mode)
{
	size_t plen = strlen(path), done = 0;
	char *tmp = sn_xmalloc(plen + 5);
	ssize_t n;
	int fd, e;

	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		goto fail;
	while (done < len) {
		n = write(fd, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return sn_fsync_dir(path) < 0 ? -2 : 0;
fail:
	e = errno != 0 ? errno : EIO;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = e;
	return -1;
}

int
sn_mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	char *p;
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0) {
		if (errno != EEXIST)
			return -1;
		if (stat(buf, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return 0;
}

void
sn_buf_reserve(struct sn_buf *b, size_t extra)
{
	size_t cap;

	if (b->len + extra <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	b->data = realloc(b->data, cap);
	if (b->data == NULL)
		fatalx("out of memory (%zu bytes)", cap);
	b->cap = cap;
}

void
sn_buf_append(struct sn_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	sn_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

int
sn_proc_open_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	/* our own count includes the descriptor that read the folder */
	return pid == getpid() && n > 0 ? n - 1 : n;
}

void
sn_buf_printf(struct sn_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	sn_buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
sn_buf_reset(struct sn_buf *b)
{
	b->len = 0;
}

void
sn_buf_free(struct sn_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void *
sn_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return p;
}

void *
sn_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatalx("out of memory (%zu x %zu bytes)", nmemb, size);
	return p;
}

char *
sn_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void
sn_notify_ready(void)
{
	const char *v = getenv(SN_NOTIFY_ENV);
	char *end;
	long fd;
	ssize_t n;

	if (v == NULL || *v == '\0')
		return;
	fd = strtol(v, &end, 10);
	if (*end != '\0' || fd < 3 || fd > INT_MAX)
		return;
	do
		n = write((int)fd, "READY\n", 6);
	while (n < 0 && errno == EINTR);
	close((int)fd);
	unsetenv(SN_NOTIFY_ENV);
}

/* A string as jansson writes it: \\ \" \b \f \n \r \t, other controls
 * as \u00XX, the rest (UTF-8 included) as is. */
void
sn_buf_json_str(struct sn_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	char *d;
	size_t i;

	/* at most 6 bytes for each, and the quotes: written in place */
	sn_buf_reserve(out, len * 6 + 2);
	d = (char *)out->data + out->len;
	*d++ = '"';
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*d++ = (char)c;
			continue;
		}
		*d++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*d++ = (char)c;
			break;
		case '\b':
			*d++ = 'b';
			break;
		case '\f':
			*d++ = 'f';
			break;
		case '\n':
			*d++ = 'n';
			break;
		case '\r':
			*d++ = 'r';
			break;
		case '\t':
			*d++ = 't';
			break;
		default:
			*d++ = 'u';
			*d++ = '0';
			*d++ = '0';
			*d++ = hex[c >> 4];
			*d++ = hex[c & 15];
		}
	}
	*d++ = '"';
	out->len = (size_t)(d - (char *)out->data);
}
