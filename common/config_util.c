/*
 * config_util.c: what the config loader's files share: the error list,
 * ${VAR} expansion, and the helpers that resolve one value each
 * (string, path, duration, integer range, name from a list) and report
 * a problem with its file, line and key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "log.h"
#include "util.h"

#define CFG_MAX_FILE_BYTES (4u * 1024 * 1024)
#define CFG_PATH_BUF       256

/* Errors --------------------------------------------------------------- */

void
cfg_errors_add(struct sn_cfg_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	char **v;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	v = realloc(e->msgs, (e->count + 1) * sizeof(*e->msgs));
	if (v == NULL)
		fatalx("out of memory");
	e->msgs = v;
	e->msgs[e->count++] = msg;
}

void
cfg_errors_free(struct sn_cfg_errors *e)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->count = 0;
}

/* ${VAR} --------------------------------------------------------------- */

static bool
env_name_char(char ch, bool first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       ch == '_' || (!first && ch >= '0' && ch <= '9');
}

char *
config_expand_env(const char *s, char **missing)
{
	struct sn_buf b = {0};
	const char *p = s, *name, *def = NULL, *val;
	size_t nlen, dlen = 0;
	char *var;

	*missing = NULL;
	while (*p != '\0') {
		if (p[0] != '$' || (p[1] != '{' && p[1] != '$')) {
			sn_buf_append(&b, p++, 1);
			continue;
		}
		if (p[1] == '$') { /* "$$" is a literal "$" */
			sn_buf_append(&b, "$", 1);
			p += 2;
			continue;
		}
		name = p + 2;
		for (nlen = 0; env_name_char(name[nlen], nlen == 0); nlen++)
			;
		if (nlen == 0)
			goto bad;
		p = name + nlen;
		def = NULL;
		if (p[0] == ':' && p[1] == '-') {
			def = p + 2;
			if ((p = strchr(def, '}')) == NULL)
				goto bad;
			dlen = (size_t)(p - def);
		} else if (*p != '}')
			goto bad;
		p++; /* past '}' */
		var = sn_xmalloc(nlen + 1);
		memcpy(var, name, nlen);
		var[nlen] = '\0';
		val = getenv(var);
		if (def != NULL && (val == NULL || *val == '\0')) {
			/* shell semantics: ":-" also covers set but empty */
			if (dlen > 0) /* sn_buf_append(NULL data, 0) is UB */
				sn_buf_append(&b, def, dlen);
			free(var);
		} else if (val == NULL) {
			*missing = var;
			sn_buf_free(&b);
			return NULL;
		} else {
			if (*val != '\0')
				sn_buf_append(&b, val, strlen(val));
			free(var);
		}
	}
	sn_buf_append(&b, "", 1);
	return (char *)b.data;
bad:
	sn_buf_free(&b);
	return NULL;
}

/* Resolving helpers ---------------------------------------------------- */

char *
cfg_string(struct cfg_ctx *c, const char *path, const char *raw,
           const char *def)
{
	char *s, *missing;

	c->env_failed = false;
	if (raw == NULL)
		return def != NULL ? sn_xstrdup(def) : NULL;
	if ((s = config_expand_env(raw, &missing)) != NULL)
		return s;
	c->env_failed = true;
	if (missing != NULL) {
		cfg_error(c, path, "environment variable %s is not set",
		          missing);
		free(missing);
	} else
		cfg_error(c, path,
		          "bad ${...} in \"%s\" (write ${NAME} or "
		          "${NAME:-default}, and $$ for a literal $)",
		          raw);
	return sn_xstrdup(raw); /* the load fails; keep the struct whole */
}

char *
cfg_path(struct cfg_ctx *c, const char *path, const char *raw, const char *def)
{
	char *s, *r;

	if (raw == NULL)
		return def != NULL ? sn_xstrdup(def) : NULL;
	s = cfg_string(c, path, raw, NULL);
	if (*s == '\0' && !c->env_failed) {
		cfg_error(c, path, "must not be empty");
		return s;
	}
	r = sn_path_resolve(c->dir, s);
	free(s);
	return r;
}

void
cfg_strings(struct cfg_ctx *c, const char *path, char *const *raw, unsigned n,
            char ***out, size_t *nout)
{
	char p[CFG_PATH_BUF];
	unsigned i;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return;
	*out = sn_xcalloc(n, sizeof(**out));
	for (i = 0; i < n; i++) {
		cfg_pathf(p, sizeof(p), "%s[%u]", path, i);
		(*out)[i] = cfg_string(c, p, raw[i], NULL);
	}
	*nout = n;
}

void
cfg_pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

void
cfg_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int64_t
cfg_duration(struct cfg_ctx *c, const char *path, const char *raw, int64_t def,
             bool positive)
{
	int64_t ms;
	char *s;

	if (raw == NULL)
		return def;
	s = cfg_string(c, path, raw, NULL);
	if (c->env_failed)
		ms = def;
	else if (sn_duration_parse(s, &ms) < 0) {
		cfg_error(
		        c, path,
		        "invalid duration \"%s\" (a number and a unit: ms, s, "
		        "m, h, d or w, as in 100ms, 5m, 1h30m, 7d)",
		        s);
		ms = def;
	} else if (positive && ms == 0) {
		cfg_error(c, path, "must be longer than 0");
		ms = def;
	}
	free(s);
	return ms;
}

int64_t
cfg_int(struct cfg_ctx *c, const char *path, const int64_t *raw, int64_t def,
        int64_t min, int64_t max)
{
	if (raw == NULL)
		return def;
	if (*raw < min || *raw > max) {
		cfg_error(c, path, "must be between %lld and %lld, not %lld",
		          (long long)min, (long long)max, (long long)*raw);
		return def;
	}
	return *raw;
}

bool
cfg_oneof(struct cfg_ctx *c, const char *path, const char *what, const char *s,
          const char *const *names)
{
	struct sn_buf b = {0};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	for (i = 0; names[i] != NULL; i++) {
		if (i > 0)
			sn_buf_append(&b, names[i + 1] ? ", " : " or ",
			              names[i + 1] ? 2 : 4);
		sn_buf_append(&b, names[i], strlen(names[i]));
	}
	sn_buf_append(&b, "", 1);
	cfg_error(c, path, "unknown %s \"%s\" (expected %s)", what, s,
	          (char *)b.data);
	sn_buf_free(&b);
	return false;
}

char *
config_read_file(const char *path, size_t *len, unsigned *mode)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size > CFG_MAX_FILE_BYTES) {
		errno = EFBIG;
		goto fail;
	}
	buf = sn_xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*len = off;
	if (mode != NULL)
		*mode = (unsigned)st.st_mode;
	return buf;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}
