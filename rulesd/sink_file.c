/*
 * sink_file.c - the file action: append the body and a newline to
 * file_dir/path, one writer per path, rotating by size.
 *
 * Rotation: when a record would take the file past maxBytes (and the file
 * is not empty), path.<maxFiles-1> is removed, path.<i> renamed to
 * path.<i+1> down to path -> path.1, and a new path is started.  A record
 * larger than maxBytes is written alone into a fresh file.
 *
 * Paths are relative to file_dir: absolute paths and ".." components are
 * refused here (the daemon checks too), the last component is opened
 * with O_NOFOLLOW, and missing directories are made (0750).  The
 * directory itself is trusted: whoever can write into it can point its
 * subdirectories elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "rule.h"
#include "sink_impl.h"

#define SINK_FILE_BATCH 64          /* records per turn of the loop */
#define SINK_FILE_PATH_MAX 1024
#define SINK_FILE_MAX_BYTES_DEFAULT (64L * 1024 * 1024)
#define SINK_FILE_MAX_FILES_DEFAULT 5
#define SINK_FILE_MAX_FILES_MAX 1000

struct sink_file {
	int dir;        /* file_dir, O_PATH */
	int fd;         /* the current file, -1 when closed */
	off_t size;
};

/* 0 when path is relative, has no ".." component and fits. */
static int
sink_file_check_path(const char *path)
{
	const char *p = path;
	size_t len = strlen(path);

	if (len == 0 || len >= SINK_FILE_PATH_MAX || path[0] == '/' ||
	    path[len - 1] == '/')
		return -1;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int
sink_file_prepare(struct rulesd_sinks *s, struct sink_job *j, char *key,
    size_t keylen, char *err, size_t errlen, char *res, size_t reslen)
{
	const char *path = j->pub.action->path;

	snprintf(res, reslen, "%s", path != NULL ? path : "");
	if (sink_config(s)->file_dir == NULL) {
		snprintf(err, errlen, "file actions are not enabled");
		return -1;
	}
	if (path == NULL || sink_file_check_path(path) != 0) {
		snprintf(err, errlen, "Invalid path %s: it must be relative, "
		    "without \"..\"", path != NULL ? path : "(none)");
		return -1;
	}
	snprintf(key, keylen, "%s", path);
	return 0;
}

static void
sink_file_open(struct sink_target *t, struct sink_job *first)
{
	struct sink_file *f = calloc(1, sizeof(*f));

	if (f == NULL)
		abort();
	f->fd = -1;
	f->dir = open(sink_config(t->sinks)->file_dir,
	    O_PATH | O_DIRECTORY | O_CLOEXEC);
	t->impl = f;
}

/* Make the directories above path (under f->dir); errno on failure. */
static int
sink_file_mkdirs(struct sink_file *f, const char *path)
{
	char buf[SINK_FILE_PATH_MAX];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", path);
	for (slash = strchr(buf, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdirat(f->dir, buf, 0750) != 0 && errno != EEXIST)
			return -1;
		*slash = '/';
	}
	return 0;
}

static int
sink_file_reopen(struct sink_file *f, const char *path)
{
	struct stat st;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = openat(f->dir, path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0 && errno == ENOENT && sink_file_mkdirs(f, path) == 0)
		f->fd = openat(f->dir, path, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0)
		return -1;
	if (fstat(f->fd, &st) != 0) {
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	f->size = st.st_size;
	return 0;
}

/* path -> path.1 -> ... -> path.<files-1>, the oldest removed. */
static int
sink_file_rotate(struct sink_file *f, const char *path, long files)
{
	char from[SINK_FILE_PATH_MAX + 8], to[SINK_FILE_PATH_MAX + 8];

	close(f->fd);
	f->fd = -1;
	if (files <= 1)
		return unlinkat(f->dir, path, 0) == 0 || errno == ENOENT ?
		    0 : -1;
	snprintf(to, sizeof(to), "%s.%ld", path, files - 1);
	if (unlinkat(f->dir, to, 0) != 0 && errno != ENOENT)
		return -1;
	for (long i = files - 2; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%ld", path, i);
		snprintf(to, sizeof(to), "%s.%ld", path, i + 1);
		if (renameat(f->dir, from, f->dir, to) != 0 &&
		    errno != ENOENT)
			return -1;
	}
	snprintf(to, sizeof(to), "%s.1", path);
	return renameat(f->dir, path, f->dir, to);
}

static int
sink_file_write_all(int fd, const uint8_t *body, size_t len)
{
	struct iovec iov[2] = {
		{ (void *)body, len },
		{ (void *)"\n", 1 },
	};
	struct iovec *v = iov;
	int n = 2;

	while (n > 0) {
		ssize_t w = writev(fd, v, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void
sink_file_write(struct sink_target *t, struct sink_job *j)
{
	struct sink_file *f = t->impl;
	const struct strata_rule_action *a = j->pub.action;
	long max_bytes = a->max_bytes > 0 ? a->max_bytes :
	    SINK_FILE_MAX_BYTES_DEFAULT;
	long files = a->max_files > 0 ? a->max_files :
	    SINK_FILE_MAX_FILES_DEFAULT;
	off_t need = (off_t)j->pub.body_len + 1;

	if (files > SINK_FILE_MAX_FILES_MAX)
		files = SINK_FILE_MAX_FILES_MAX;
	if (f->dir < 0) {
		sink_job_finish(j, false, t->key, "Cannot open the file "
		    "directory %s", sink_config(t->sinks)->file_dir);
		return;
	}
	if (f->fd < 0 && sink_file_reopen(f, t->key) != 0)
		goto fail;
	if (f->size > 0 && f->size + need > max_bytes &&
	    (sink_file_rotate(f, t->key, files) != 0 ||
	    sink_file_reopen(f, t->key) != 0))
		goto fail;
	if (sink_file_write_all(f->fd, j->pub.body, j->pub.body_len) != 0)
		goto fail;
	f->size += need;
	sink_job_finish(j, true, NULL, NULL);
	return;
fail:
	sink_job_finish(j, false, t->key, "Cannot write to %s: %s", t->key,
	    strerror(errno));
	if (f->fd >= 0) {  /* start again from a fresh open next time */
		close(f->fd);
		f->fd = -1;
	}
}

static void
sink_file_pump(struct sink_target *t)
{
	struct sink_job *j;

	for (int i = 0; i < SINK_FILE_BATCH; i++) {
		j = sink_target_take(t);
		if (j == NULL)
			return;
		sink_file_write(t, j);
	}
	sink_target_kick(t);  /* more: after the loop's other work */
}

static void
sink_file_close(struct sink_target *t)
{
	struct sink_file *f = t->impl;

	if (f->fd >= 0)
		close(f->fd);
	if (f->dir >= 0)
		close(f->dir);
	free(f);
	t->impl = NULL;
}

const struct sink_kind_ops sink_file_ops = {
	.name = "file",
	.prepare = sink_file_prepare,
	.open = sink_file_open,
	.pump = sink_file_pump,
	.close = sink_file_close,
};
