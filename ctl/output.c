/*
 * output.c - printing answers and writing outfiles (see output.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

#define OUTPUT_MAX_DIGITS 17

/* The fewest significant digits that print d so that it reads back,
 * and at least its integer digits (10.0 is "10.0" as Python prints it,
 * not "1e1"). */
static int
output_digits(double d)
{
	char text[64];
	int digits, start = 1;
	double a = fabs(d);

	while (start < OUTPUT_MAX_DIGITS && a >= 10.0) {
		a /= 10.0;
		start++;
	}
	for (digits = start; digits < OUTPUT_MAX_DIGITS; digits++) {
		snprintf(text, sizeof(text), "%.*g", digits, d);
		if (strtod(text, NULL) == d)
			break;
	}
	return digits;
}

/* The digits the reals of value need: the most any one needs. */
static int
output_precision(const json_t *value)
{
	const char *key;
	json_t *item;
	size_t i;
	int most = 0, p;

	if (json_is_real(value))
		return output_digits(json_real_value(value));
	if (json_is_object(value)) {
		json_object_foreach((json_t *)value, key, item)
			if ((p = output_precision(item)) > most)
				most = p;
	} else if (json_is_array(value)) {
		json_array_foreach(value, i, item)
			if ((p = output_precision(item)) > most)
				most = p;
	}
	return most;
}

char *
ctl_output_format(const json_t *value)
{
	size_t flags = JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
	int precision = output_precision(value);
	char *text;

	if (precision > 0)
		flags |= JSON_REAL_PRECISION(precision);
	if ((text = json_dumps(value, flags)) == NULL)
		abort();
	return text;
}

/* The member at a dotted path ("keyPair.PrivateKey") of root. */
static json_t *
output_member(json_t *root, const char *path)
{
	char name[128];
	const char *dot;
	size_t n;

	while (root != NULL && (dot = strchr(path, '.')) != NULL) {
		n = (size_t)(dot - path);
		if (n >= sizeof(name))
			return NULL;
		memcpy(name, path, n);
		name[n] = '\0';
		root = json_object_get(root, name);
		path = dot + 1;
	}
	return json_object_get(root, path);
}

static int
output_write_all(int fd, const char *text, size_t left)
{
	ssize_t n;

	while (left > 0) {
		n = write(fd, text, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		text += n;
		left -= (size_t)n;
	}
	return 0;
}

/* Write len bytes of text to path; a private file gets mode 0600 even if
 * it existed (the mode is set before anything is written to it).
 * Returns 0, or -1 with errno; *opened says whether the open worked. */
static int
output_write_file(const char *path, const char *text, size_t len,
    int private_file, int *opened)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    private_file ? 0600 : 0666);
	int rc, saved;

	*opened = fd >= 0;
	if (fd < 0)
		return -1;
	rc = private_file ? fchmod(fd, 0600) : 0;
	if (rc == 0)
		rc = output_write_all(fd, text, len);
	saved = errno;
	if (close(fd) != 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

static int
output_outfiles(const struct ctl_invocation *inv, json_t *root,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);
	const struct ctl_flag *f;
	const char *text;
	int opened;

	for (i = 0; i < n; i++) {
		f = &c->flags[i];
		if (f->place != CTL_OUTFILE || inv->values[i] == NULL)
			continue;
		text = json_string_value(output_member(root, f->wire));
		if (text == NULL)
			return ctl_error_set(err, CTL_EXIT_FAILED,
			    "The answer has no %s to write to --%s", f->wire,
			    f->name);
		if (output_write_file(inv->values[i], text, strlen(text),
		    (f->options & CTL_PRIVATE) != 0, &opened) != 0)
			return ctl_error_set(err, CTL_EXIT_FAILED, "Cannot "
			    "write --%s %s: %s", f->name, inv->values[i],
			    strerror(errno));
	}
	return 0;
}

/* The body of answer into the positional outfile of flag i, as the AWS
 * CLI writes a streaming blob: open(path, 'wb'), nothing printed.  An
 * error is reported in Python's words (OSError's str()). */
static int
output_payload(const struct ctl_invocation *inv, int i,
    const struct ctl_http_answer *answer, struct ctl_error *err)
{
	const char *path = inv->values[i];
	int opened;

	if (output_write_file(path, answer->body, answer->body_len, 0,
	    &opened) == 0)
		return 0;
	if (opened)
		return ctl_error_set(err, CTL_EXIT_FAILED, "[Errno %d] %s",
		    errno, strerror(errno));
	return ctl_error_set(err, CTL_EXIT_FAILED, "[Errno %d] %s: '%s'",
	    errno, strerror(errno), path);
}

int
ctl_output_answer(const struct ctl_invocation *inv,
    const struct ctl_http_answer *answer, FILE *out, struct ctl_error *err)
{
	int payload = ctl_table_flag_at(inv->command, CTL_PAYLOAD_OUTFILE);
	json_error_t error = { 0 };
	json_t *root;
	char *text;
	int rc;

	if (payload >= 0)
		return output_payload(inv, payload, answer, err);
	root = json_object();
	if (answer->body_len > 0) {
		json_decref(root);
		root = json_loadb(answer->body, answer->body_len, 0, &error);
	}
	if (root == NULL)
		return ctl_error_set(err, CTL_EXIT_FAILED, "The answer to "
		    "%s is not JSON: %s at line %d column %d",
		    inv->command->operation, error.text, error.line,
		    error.column);
	if (!json_is_object(root) || json_object_size(root) > 0) {
		text = ctl_output_format(root);
		fprintf(out, "%s\n", text);
		free(text);
		fflush(out);
	}
	rc = output_outfiles(inv, root, err);
	json_decref(root);
	return rc;
}

const char *
ctl_output_data_error(int status)
{
	/* the errors of the iot-data operations (the AWS API reference and
	 * SDK models), by the HTTP status each is sent with */
	static const struct {
		int status;
		const char *name;
	} names[] = {
		{ 400, "InvalidRequestException" },
		{ 401, "UnauthorizedException" },
		{ 403, "ForbiddenException" },
		{ 404, "ResourceNotFoundException" },
		{ 405, "MethodNotAllowedException" },
		{ 409, "ConflictException" },
		{ 413, "RequestEntityTooLargeException" },
		{ 415, "UnsupportedDocumentEncodingException" },
		{ 429, "ThrottlingException" },
		{ 500, "InternalFailureException" },
		{ 503, "ServiceUnavailableException" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].status == status)
			return names[i].name;
	return NULL;
}

void
ctl_output_failure(const struct ctl_command *c,
    const struct ctl_http_answer *answer, struct ctl_error *err)
{
	json_t *root = json_loadb(answer->body, answer->body_len, 0, NULL);
	const char *type = json_string_value(json_object_get(root, "error"));
	const char *message =
	    json_string_value(json_object_get(root, "message"));
	char status[16];

	if (type == NULL && answer->error_type != NULL)
		type = answer->error_type;
	/* the shadow API names no error: its body has the status (code) */
	if (type == NULL && c->api == CTL_API_DATA)
		type = ctl_output_data_error(answer->status);
	if (type == NULL) {
		snprintf(status, sizeof(status), "%d", answer->status);
		type = status;
	}
	if (message == NULL)
		message = *answer->reason != '\0' ? answer->reason : "Unknown";
	/* x-amzn-ErrorType may carry ":<url>" after the type */
	ctl_error_set(err, CTL_EXIT_SERVICE, "An error occurred (%.*s) when "
	    "calling the %s operation: %s", (int)strcspn(type, ":"), type,
	    c->operation, message);
	json_decref(root);
}
