/*
 * profile.h - reading a profile of a credentials file, an INI file as
 * the AWS CLI's ~/.aws/credentials:
 *
 *   [default]
 *   strata_access_key_id = AKIA...
 *   strata_secret_access_key = ...
 *
 * Line by line, white space around each line and around names and
 * values dropped:
 *   - empty, or a comment: '#' or ';' first;
 *   - [name]: a section (a profile); name not empty;
 *   - key = value (or key: value), within a section; the key not empty,
 *     matched without regard to case; the value runs to the line's end
 *     (no inline comments) and may be empty;
 *   - a line indented deeper than the key before it in its section: a
 *     continuation of that key's value (nested settings), skipped;
 *   - anything else is an error.
 * The keys read are strata_access_key_id and strata_secret_access_key,
 * else aws_access_key_id and aws_secret_access_key; others are skipped.
 * The profile's section, or one of those keys in it, given twice is an
 * error.  Pure: the caller reads the file.
 */
#ifndef STRATA_CTL_PROFILE_H
#define STRATA_CTL_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

struct ctl_profile {
	bool found;               /* the profile's section is there */
	char *access_key_id;      /* owned; NULL: none, or empty */
	char *secret_access_key;  /* owned; NULL: none, or empty */
};

/* Read the profile called name from text (NUL-terminated) into p.
 * Returns 0 (found or not), or -1 with msg ("line N: what") when text
 * is not such a file; p is then cleared. */
int ctl_profile_parse(struct ctl_profile *p, const char *text,
    const char *name, char *msg, size_t msglen);

void ctl_profile_clear(struct ctl_profile *p);

#endif
