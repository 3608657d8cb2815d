/*
 * uuid.h - random (version 4) UUIDs, as AWS's ids and traceIds are.
 */
#ifndef STRATA_UUID_H
#define STRATA_UUID_H

/* Length of the text form, without its NUL. */
#define STRATA_UUID_LEN 36

/* A version 4 UUID from OpenSSL's random generator into out, as
 * "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (lower case) and a NUL.  Aborts
 * when the generator fails. */
void strata_uuid4(char out[STRATA_UUID_LEN + 1]);

#endif
