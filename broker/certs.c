/*
 * certs.c - X.509 helpers of the registry: certificate ids, PEM in and
 * out, the key pairs create-keys-and-certificate issues, and the
 * certificate fields policy variables name.
 *
 * A certificate id is the SHA-256 of the certificate's DER, in lower-case
 * hex, as AWS IoT's certificateId.  Issued certificates carry an EC P-256
 * key (generating one takes well under a millisecond, so the admin API
 * can make it on the event loop), a random 128-bit serial, the subject
 * CN "Strata IoT Certificate" and the CA's subject as issuer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "broker.h"

int
broker_cert_id(X509 *x, char out[BROKER_CERT_ID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
		return STRATA_EINVAL;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

bool
broker_cert_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n != BROKER_CERT_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

X509 *
broker_cert_from_pem(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	if (bio == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

/* What a memory BIO holds, as a malloc'd string. */
static char *
certs_bio_string(BIO *bio)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

char *
broker_cert_to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio != NULL && PEM_write_bio_X509(bio, x) == 1)
		s = certs_bio_string(bio);
	BIO_free(bio);
	return s;
}

int64_t
broker_cert_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

void
broker_cert_validity(X509 *x, char not_before[24], char not_after[24])
{
	snprintf(not_before, 24, "%lld",
	    (long long)broker_cert_time(X509_get0_notBefore(x)));
	snprintf(not_after, 24, "%lld",
	    (long long)broker_cert_time(X509_get0_notAfter(x)));
}

/* A fresh EC P-256 key. */
static EVP_PKEY *
certs_new_key(void)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *key = NULL;

	if (kctx != NULL && EVP_PKEY_keygen_init(kctx) == 1 &&
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx,
	    NID_X9_62_prime256v1) == 1)
		EVP_PKEY_keygen(kctx, &key);
	EVP_PKEY_CTX_free(kctx);
	return key;
}

/* A random positive 128-bit serial. */
static int
certs_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return STRATA_EIO;
	raw[0] &= 0x7f;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : STRATA_EIO;
}

static int
certs_add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return STRATA_EIO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : STRATA_EIO;
}

/* The certificate of key, signed by ca_key as ca, valid for days, with
 * subject (NULL: CN "Strata IoT Certificate"). */
static X509 *
certs_sign(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, long days,
    const X509_NAME *subject)
{
	X509 *x = X509_new();
	X509_NAME *name;
	bool ok;

	if (x == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	ok = X509_set_version(x, 2) == 1 && certs_serial(x) == 0 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) != NULL &&
	    (subject != NULL ? X509_set_subject_name(x, subject) == 1 :
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Strata IoT Certificate", -1, -1, 0) == 1) &&
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) == 1 &&
	    X509_set_pubkey(x, key) == 1 &&
	    certs_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")
	    == 0 && certs_add_ext(x, ca, NID_key_usage,
	    "critical,digitalSignature") == 0 &&
	    certs_add_ext(x, ca, NID_ext_key_usage, "clientAuth") == 0 &&
	    X509_sign(x, ca_key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *
certs_key_pem(EVP_PKEY *key, bool private)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;
	int ok;

	if (bio == NULL)
		return NULL;
	ok = private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
	    NULL, NULL) : PEM_write_bio_PUBKEY(bio, key);
	if (ok == 1)
		s = certs_bio_string(bio);
	BIO_free(bio);
	return s;
}

void
broker_issued_free(struct broker_issued *is)
{
	free(is->cert_pem);
	free(is->public_pem);
	free(is->private_pem);
	X509_free(is->cert);
	memset(is, 0, sizeof(*is));
}

int
broker_cert_issue(X509 *ca, EVP_PKEY *ca_key, long days,
    struct broker_issued *out)
{
	EVP_PKEY *key = certs_new_key();

	memset(out, 0, sizeof(*out));
	if (key == NULL)
		return STRATA_EIO;
	out->cert = certs_sign(key, ca, ca_key, days, NULL);
	if (out->cert != NULL) {
		out->cert_pem = broker_cert_to_pem(out->cert);
		out->public_pem = certs_key_pem(key, false);
		out->private_pem = certs_key_pem(key, true);
	}
	EVP_PKEY_free(key);
	if (out->cert == NULL || out->cert_pem == NULL ||
	    out->public_pem == NULL || out->private_pem == NULL ||
	    broker_cert_id(out->cert, out->id) != 0) {
		broker_issued_free(out);
		return STRATA_EIO;
	}
	return 0;
}

X509 *
broker_cert_issue_csr(X509 *ca, EVP_PKEY *ca_key, long days,
    const char *csr_pem, size_t len, const char **why)
{
	BIO *bio = BIO_new_mem_buf(csr_pem, (int)len);
	X509_REQ *req = bio != NULL ? PEM_read_bio_X509_REQ(bio, NULL, NULL,
	    NULL) : NULL;
	EVP_PKEY *key = req != NULL ? X509_REQ_get0_pubkey(req) : NULL;
	X509 *x = NULL;

	*why = NULL;
	if (req == NULL)
		*why = "certificateSigningRequest is not a PEM certificate "
		    "signing request";
	else if (key == NULL || X509_REQ_verify(req, key) != 1)
		*why = "the certificate signing request's signature does not "
		    "verify";
	else if ((EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bits(key) < 2048) ||
	    (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA &&
	    EVP_PKEY_get_base_id(key) != EVP_PKEY_EC))
		*why = "the key must be RSA (2048 bits or more) or EC";
	else if ((x = certs_sign(key, ca, ca_key, days,
	    X509_REQ_get_subject_name(req))) == NULL)
		*why = "the certificate could not be signed";
	X509_REQ_free(req);
	BIO_free(bio);
	return x;
}

/* ---- certificate fields of policy variables ---- */

/* iot:Certificate.Subject.<Field> / Issuer.<Field> names and their
 * OpenSSL NIDs (AWS IoT's list). */
static const struct {
	const char *name;
	int nid;
} certs_name_fields[] = {
	{"Country", NID_countryName},
	{"Organization", NID_organizationName},
	{"OrganizationalUnit", NID_organizationalUnitName},
	{"DistinguishedNameQualifier", NID_dnQualifier},
	{"State", NID_stateOrProvinceName},
	{"CommonName", NID_commonName},
	{"SerialNumber", NID_serialNumber},
	{"Title", NID_title},
	{"Surname", NID_surname},
	{"GivenName", NID_givenName},
	{"Initials", NID_initials},
	{"Pseudonym", NID_pseudonym},
	{"GenerationQualifier", NID_generationQualifier},
};

/* Split "Name.2" into "Name" and index 2 (no suffix: 0). */
static int
certs_index(const char *field, char *name, size_t len)
{
	const char *dot = strrchr(field, '.');
	size_t n = strlen(field);

	if (dot != NULL && dot[1] >= '1' && dot[1] <= '4' && dot[2] == '\0')
		n = (size_t)(dot - field);
	snprintf(name, len, "%.*s", (int)n, field);
	return n == strlen(field) ? 0 : dot[1] - '0';
}

/* The index-th value (0 the first) of a name field. */
static const char *
certs_name_field(X509_NAME *xn, const char *field, char *buf, size_t len)
{
	char name[64];
	int index = certs_index(field, name, sizeof(name)), pos = -1;

	for (size_t i = 0; i < sizeof(certs_name_fields) /
	    sizeof(certs_name_fields[0]); i++) {
		if (strcmp(name, certs_name_fields[i].name) != 0)
			continue;
		for (int k = 0; k <= index; k++) {
			pos = X509_NAME_get_index_by_NID(xn,
			    certs_name_fields[i].nid, pos);
			if (pos < 0)
				return NULL;
		}
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(xn, pos));

		snprintf(buf, len, "%.*s", ASN1_STRING_length(v),
		    (const char *)ASN1_STRING_get0_data(v));
		return buf;
	}
	return NULL;
}

/* The index-th alternative name of a kind (GEN_DNS, GEN_EMAIL, GEN_URI,
 * GEN_IPADD as text) of the subject (NID_subject_alt_name) or issuer. */
static const char *
certs_alt(X509 *x, int nid, int type, int index, char *buf, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, nid, NULL, NULL);
	const char *r = NULL;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names);
	     i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s;

		if (g->type != type || index-- > 0)
			continue;
		s = type == GEN_IPADD ? g->d.iPAddress : g->d.ia5;
		if (type == GEN_IPADD && s->length == 4)
			snprintf(buf, len, "%u.%u.%u.%u", s->data[0],
			    s->data[1], s->data[2], s->data[3]);
		else if (type != GEN_IPADD)
			snprintf(buf, len, "%.*s", s->length, s->data);
		else
			break;
		r = buf;
		break;
	}
	GENERAL_NAMES_free(names);
	return r;
}

static const char *
certs_alt_field(X509 *x, int nid, const char *field, char *buf, size_t len)
{
	static const struct {
		const char *name;
		int type;
	} kinds[] = {{"DNSName", GEN_DNS}, {"RFC822Name", GEN_EMAIL},
	    {"UniformResourceIdentifier", GEN_URI}, {"IPAddress", GEN_IPADD}};
	char name[64];
	int index = certs_index(field, name, sizeof(name));

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].name) == 0)
			return certs_alt(x, nid, kinds[i].type, index, buf,
			    len);
	return NULL;
}

const char *
broker_cert_field(X509 *x, const char *name, char *buf, size_t len)
{
	const ASN1_INTEGER *serial;
	BIGNUM *bn;
	char *hex;

	if (x == NULL)
		return NULL;
	if (strncmp(name, "Subject.AlternativeName.", 24) == 0)
		return certs_alt_field(x, NID_subject_alt_name, name + 24, buf,
		    len);
	if (strncmp(name, "Issuer.AlternativeName.", 23) == 0)
		return certs_alt_field(x, NID_issuer_alt_name, name + 23, buf,
		    len);
	if (strncmp(name, "Subject.", 8) == 0)
		return certs_name_field(X509_get_subject_name(x), name + 8,
		    buf, len);
	if (strncmp(name, "Issuer.", 7) == 0)
		return certs_name_field(X509_get_issuer_name(x), name + 7,
		    buf, len);
	if (strcmp(name, "SerialNumber") != 0)
		return NULL;
	/* the certificate's serial number, in decimal */
	serial = X509_get0_serialNumber(x);
	bn = ASN1_INTEGER_to_BN(serial, NULL);
	hex = bn != NULL ? BN_bn2dec(bn) : NULL;
	if (hex != NULL)
		snprintf(buf, len, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return hex != NULL ? buf : NULL;
}
