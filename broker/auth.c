/*
 * auth.c - MQTT 5 enhanced authentication (AUTH packet).
 *
 * No enhanced authentication method is configured on this broker, so:
 *   - a CONNECT carrying an Authentication Method is refused with CONNACK
 *     0x8C Bad authentication method (MQTT 5 4.12);
 *   - an AUTH packet is a protocol error (MQTT 5 4.12: AUTH is only valid
 *     when the CONNECT named a method): DISCONNECT 0x82.
 * Username/password are not checked here: client authentication is mTLS
 * (tls-require-client-cert) until the registry and policies arrive.
 */
#include "broker.h"

int
broker_auth_check_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	if (p->props.present & STRATA_PROP_BIT(STRATA_PROP_AUTH_METHOD)) {
		broker_why(c->broker, "no enhanced authentication method is "
		    "configured");
		return STRATA_ERR(STRATA_RC_BAD_AUTH_METHOD);
	}
	return 0;
}

int
broker_auth_handle(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	broker_why(c->broker, "AUTH without an authentication method");
	return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
}
