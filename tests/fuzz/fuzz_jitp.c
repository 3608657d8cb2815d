/*
 * fuzz_jitp.c - libFuzzer target for just-in-time provisioning
 * templates: a template as register-ca-certificate takes it, evaluated
 * with a certificate whose subject a device chose.
 *
 * Input: sections separated by NUL bytes:
 *   [0] the template's JSON text
 *   [1..] subject fields in order CN, O, OU, C, ST, serialNumber,
 *         dnQualifier (UTF-8 as given; an empty or absent one is left
 *         out)
 * The template is checked as the admin API checks it, then evaluated
 * with the certificate as a connection would; either may refuse it (with
 * a message), neither may crash, leak or write out of bounds, and a
 * template the check accepts must evaluate to a thing name or none, a
 * status ACTIVE or INACTIVE, and a policy name when there is a policy.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const jitp_fields[] = {"CN", "O", "OU", "C", "ST",
	"serialNumber", "dnQualifier"};

/* A certificate with the input's subject, signed by a fixed key (only
 * its fields are read). */
static X509 *
jitp_cert(const char **parts, size_t n)
{
	static EVP_PKEY *key;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	if (key == NULL)
		key = EVP_EC_gen("P-256");
	X509_set_pubkey(x, key);
	for (size_t i = 0; i < n && i < sizeof(jitp_fields) /
	    sizeof(jitp_fields[0]); i++)
		if (parts[i][0] != '\0')
			X509_NAME_add_entry_by_txt(name, jitp_fields[i],
			    MBSTRING_UTF8, (const unsigned char *)parts[i], -1,
			    -1, 0);
	return x;
}

static void
jitp_check_result(const char *out)
{
	json_t *o = json_loads(out, 0, NULL);
	const char *status;

	if (o == NULL)
		abort();
	status = json_string_value(json_object_get(o, "status"));
	if (status == NULL || (strcmp(status, "ACTIVE") != 0 &&
	    strcmp(status, "INACTIVE") != 0))
		abort();
	if (json_object_get(o, "document") != NULL &&
	    json_object_get(o, "policy") == NULL)
		abort();
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *p, err[256];
	const char *parts[8];
	size_t n = 0;
	json_t *tmpl;
	X509 *x;
	char *out;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* sections: the template, then up to 7 subject fields */
	for (p = buf; n < 8; n++) {
		parts[n] = p;
		if ((size_t)(p - buf) >= size)
			break;
		p += strlen(p) + 1;
		if ((size_t)(p - buf) > size) {
			n++;
			break;
		}
	}
	tmpl = json_loads(parts[0], 0, NULL);
	if (tmpl != NULL && broker_jitp_template_valid(tmpl, err,
	    sizeof(err))) {
		x = jitp_cert(parts + 1, n > 0 ? n - 1 : 0);
		out = broker_jitp_evaluate(tmpl, x, "0123abcd", err,
		    sizeof(err));
		if (out != NULL)
			jitp_check_result(out);
		free(out);
		X509_free(x);
	}
	json_decref(tmpl);
	free(buf);
	return 0;
}
