/*
 * fuzz_provtemplate.c - libFuzzer target for provisioning templates
 * (common/provtemplate.c): a template as CreateProvisioningTemplate
 * stores it, evaluated with the parameters a device sends in its
 * provision request.
 *
 * Input: the template's JSON text, a NUL byte, the parameters' JSON
 * text (an object; anything else is replaced by {}).  The template is
 * checked, then evaluated whether the check accepted it or not; neither
 * may crash, leak or run past the bounds, and an evaluation that
 * succeeds must give a plan that keeps the contract of provtemplate.h:
 * valid registry names, a status ACTIVE or INACTIVE, attributes as a
 * JSON object, a policy name whenever there is a document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provtemplate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
provtemplate_check_plan(const struct strata_provtemplate_plan *p)
{
	json_t *attrs = json_loads(p->attributes, 0, NULL);
	size_t i;
	json_t *g;

	if (!json_is_object(attrs) || p->cert_status == NULL ||
	    (strcmp(p->cert_status, "ACTIVE") != 0 &&
	    strcmp(p->cert_status, "INACTIVE") != 0) ||
	    (p->policy_doc != NULL && p->policy_name == NULL) ||
	    !json_is_object(p->device_config) || !json_is_array(p->groups))
		abort();
	if ((p->thing != NULL && !strata_provtemplate_name_valid(p->thing)) ||
	    (p->policy_name != NULL &&
	    !strata_provtemplate_name_valid(p->policy_name)))
		abort();
	json_array_foreach(p->groups, i, g)
		if (!strata_provtemplate_name_valid(json_string_value(g)))
			abort();
	json_decref(attrs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
	json_t *tmpl = json_loadb((const char *)data, tlen, 0, NULL);
	json_t *params = nul != NULL ? json_loadb((const char *)nul + 1,
	    size - tlen - 1, 0, NULL) : NULL;
	struct strata_provtemplate_plan plan;
	char err[256];

	if (tmpl == NULL)
		goto out;
	if (!json_is_object(params)) {
		json_decref(params);
		params = json_object();
	}
	json_object_set_new(params, "AWS::IoT::Certificate::Id",
	    json_string("0123abcd"));
	(void)strata_provtemplate_check(tmpl, err, sizeof(err));
	if (strata_provtemplate_eval(tmpl, params, "prov-", &plan, err,
	    sizeof(err)) == 0)
		provtemplate_check_plan(&plan);
	strata_provtemplate_plan_free(&plan);
out:
	json_decref(tmpl);
	json_decref(params);
	return 0;
}
