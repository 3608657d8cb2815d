/*
 * ping.c - PINGREQ / PINGRESP.  Any packet resets the keepalive timer (the
 * bufferevent read timeout); PINGREQ only has to be answered.
 */
#include <string.h>

#include "broker.h"

int
broker_ping_handle(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	struct strata_mqtt_packet resp;

	memset(&resp, 0, sizeof(resp));
	resp.type = STRATA_MQTT_PINGRESP;
	broker_conn_send(c, &resp);
	return 0;
}
