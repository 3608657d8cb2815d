/*
 * session.c - shadowd's internal MQTT 5 session with its broker core
 * (broker/insession.c): it subscribes to the shadow request filters in
 * the share group, hands each request to ops.c, acknowledges it once
 * answered, and publishes the answers at QoS 1.
 *
 * States (over the in-process session's own):
 *   SUBSCRIBING - the session is up: one SUBSCRIBE of the six request
 *                 filters and the two presence event filters (the
 *                 fleet index's, fidx.c) in the share group at QoS 1;
 *                 SUBACK all
 *                 granted -> SERVING (ready: /healthz 200).
 *   SERVING     - requests arrive as PUBLISH: each goes to ops.c; a QoS 1
 *                 request is acknowledged when ops.c has answered it, so
 *                 the core holds further requests back while
 *                 max-inflight are being handled (MQTT 5 Receive
 *                 Maximum).
 *   DOWN        - the core closed the session; the in-process session
 *                 starts a new one, which subscribes again.
 */
#include <stdlib.h>
#include <string.h>

#include "shadowd.h"

struct shadowd_session {
	struct shadowd *sd;
	struct broker_insession *in;
	uint16_t sub_packet;       /* the SUBSCRIBE waiting for its SUBACK */
	bool serving;
};

static const char *const session_filters[] = {
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/update",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/get",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/delete",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/name/+/update",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/name/+/get",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/things/+/shadow/name/+/delete",
	/* the fleet index's connectivity (fidx.c) */
	"$share/" SHADOWD_SHARE_GROUP "/$aws/events/presence/connected/+",
	"$share/" SHADOWD_SHARE_GROUP "/$aws/events/presence/disconnected/+",
};
#define SESSION_NFILTERS (sizeof(session_filters) / sizeof(session_filters[0]))

void
shadowd_publish(struct shadowd *sd, const char *topic, const char *payload,
    size_t len)
{
	struct broker_insession_msg m = {.topic = topic,
	    .payload = (const uint8_t *)payload, .len = len, .qos = 1,
	    .json = true};

	if (sd->session != NULL)   /* NULL: stopping */
		broker_insession_publish(sd->session->in, &m);
}

bool
shadowd_publish_msg(struct shadowd *sd, const struct broker_insession_msg *m)
{
	if (sd->session == NULL)
		return false;
	broker_insession_publish(sd->session->in, m);
	return true;
}

void
shadowd_request_done(struct shadowd *sd, unsigned generation,
    uint16_t packet_id)
{
	if (sd->session != NULL)
		broker_insession_ack(sd->session->in, generation, packet_id);
}

bool
shadowd_session_ready(const struct shadowd *sd)
{
	return sd->session != NULL && sd->session->serving &&
	    broker_insession_up(sd->session->in);
}

static void
session_up(void *arg)
{
	struct shadowd_session *s = arg;

	s->sub_packet = broker_insession_subscribe(s->in, session_filters,
	    SESSION_NFILTERS, 0);
}

static void
session_suback(void *arg, uint16_t packet_id, const uint8_t *reasons,
    size_t n)
{
	struct shadowd_session *s = arg;

	if (packet_id != s->sub_packet)
		return;
	for (size_t i = 0; i < n; i++)
		if (reasons[i] > 2) {
			STRATA_ERROR(SHADOWD_COMP, "request filter refused|"
			    "filter=%s reason=0x%02x", i < SESSION_NFILTERS ?
			    session_filters[i] : "?", reasons[i]);
			return;
		}
	s->serving = true;
	*s->sd->m.session_up = 1;
	STRATA_INFO(SHADOWD_COMP, "serving shadow requests|group=%s",
	    SHADOWD_SHARE_GROUP);
}

static void
session_message(void *arg, const struct strata_mqtt_packet *p,
    unsigned generation)
{
	struct shadowd_session *s = arg;
	const struct strata_mqtt_publish *pub = &p->u.publish;

	if (!s->serving)
		return;
	if (pub->topic.len > 21 && memcmp(pub->topic.p,
	    "$aws/events/presence/", 21) == 0) {
		shadowd_fidx_presence(s->sd, pub->payload.p, pub->payload.len,
		    generation, pub->packet_id);
		return;
	}
	shadowd_request(s->sd, (const char *)pub->topic.p, pub->topic.len,
	    pub->payload.p, pub->payload.len, generation, pub->packet_id);
}

static void
session_down(void *arg)
{
	struct shadowd_session *s = arg;

	s->serving = false;
	*s->sd->m.session_up = 0;
}

static const struct broker_insession_ops session_ops = {
	.comp = SHADOWD_COMP,
	.up = session_up,
	.suback = session_suback,
	.message = session_message,
	.down = session_down,
};

int
shadowd_session_start(struct shadowd *sd)
{
	struct shadowd_session *s = calloc(1, sizeof(*s));
	char id[160];

	if (s == NULL)
		abort();
	s->sd = sd;
	sd->session = s;
	snprintf(id, sizeof(id), "strata-shadowd-%s", sd->b->cfg.node_id);
	s->in = broker_insession_start(sd->b, id, (uint16_t)sd->max_inflight,
	    &session_ops, s);
	return 0;
}

void
shadowd_session_free(struct shadowd *sd)
{
	struct shadowd_session *s = sd->session;

	if (s == NULL)
		return;
	broker_insession_free(s->in);
	free(s);
	sd->session = NULL;
}
