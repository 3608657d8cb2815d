/*
 * status.h - the return codes every libstrata function uses.
 *
 * 0 is success.  STRATA_AGAIN means "need more bytes / try later".
 * Other negative values are errors.  Errors that come from MQTT input are
 * the negated MQTT 5 reason code (e.g. -0x81 Malformed Packet), so the
 * broker can map any codec error straight to the reason code it sends:
 * see strata_status_reason().
 */
#ifndef STRATA_STATUS_H
#define STRATA_STATUS_H

#define STRATA_OK 0
#define STRATA_AGAIN (-1)     /* incomplete input, call again with more */
#define STRATA_ENOMEM (-2)    /* allocation of an input-sized object refused */
#define STRATA_EINVAL (-3)    /* caller error or bad configuration */
#define STRATA_EIO (-4)       /* system call / peer failure */
#define STRATA_ENOSPC (-5)    /* output buffer too small / queue full */
#define STRATA_ENOTFOUND (-6) /* lookup missed */
#define STRATA_EPERM (-7)     /* not allowed (a policy denied it) */

/* MQTT 5 reason codes (MQTT 5.0 section 2.4), negated when used as errors */
#define STRATA_RC_SUCCESS 0x00
#define STRATA_RC_NORMAL_DISCONNECT 0x00
#define STRATA_RC_GRANTED_QOS0 0x00
#define STRATA_RC_GRANTED_QOS1 0x01
#define STRATA_RC_GRANTED_QOS2 0x02
#define STRATA_RC_DISCONNECT_WITH_WILL 0x04
#define STRATA_RC_NO_MATCHING_SUBSCRIBERS 0x10
#define STRATA_RC_NO_SUBSCRIPTION_EXISTED 0x11
#define STRATA_RC_CONTINUE_AUTH 0x18
#define STRATA_RC_REAUTHENTICATE 0x19
#define STRATA_RC_UNSPECIFIED 0x80
#define STRATA_RC_MALFORMED 0x81
#define STRATA_RC_PROTOCOL_ERROR 0x82
#define STRATA_RC_IMPL_SPECIFIC 0x83
#define STRATA_RC_UNSUPPORTED_VERSION 0x84
#define STRATA_RC_CLIENT_ID_INVALID 0x85
#define STRATA_RC_BAD_USER_PASS 0x86
#define STRATA_RC_NOT_AUTHORIZED 0x87
#define STRATA_RC_SERVER_UNAVAILABLE 0x88
#define STRATA_RC_SERVER_BUSY 0x89
#define STRATA_RC_BANNED 0x8A
#define STRATA_RC_SERVER_SHUTTING_DOWN 0x8B
#define STRATA_RC_BAD_AUTH_METHOD 0x8C
#define STRATA_RC_KEEPALIVE_TIMEOUT 0x8D
#define STRATA_RC_SESSION_TAKEN_OVER 0x8E
#define STRATA_RC_TOPIC_FILTER_INVALID 0x8F
#define STRATA_RC_TOPIC_NAME_INVALID 0x90
#define STRATA_RC_PACKET_ID_IN_USE 0x91
#define STRATA_RC_PACKET_ID_NOT_FOUND 0x92
#define STRATA_RC_RECEIVE_MAX_EXCEEDED 0x93
#define STRATA_RC_TOPIC_ALIAS_INVALID 0x94
#define STRATA_RC_PACKET_TOO_LARGE 0x95
#define STRATA_RC_MESSAGE_RATE_TOO_HIGH 0x96
#define STRATA_RC_QUOTA_EXCEEDED 0x97
#define STRATA_RC_ADMIN_ACTION 0x98
#define STRATA_RC_PAYLOAD_FORMAT_INVALID 0x99
#define STRATA_RC_RETAIN_NOT_SUPPORTED 0x9A
#define STRATA_RC_QOS_NOT_SUPPORTED 0x9B
#define STRATA_RC_USE_ANOTHER_SERVER 0x9C
#define STRATA_RC_SERVER_MOVED 0x9D
#define STRATA_RC_SHARED_SUB_NOT_SUPPORTED 0x9E
#define STRATA_RC_CONNECTION_RATE_EXCEEDED 0x9F
#define STRATA_RC_MAX_CONNECT_TIME 0xA0
#define STRATA_RC_SUB_IDS_NOT_SUPPORTED 0xA1
#define STRATA_RC_WILDCARD_SUBS_NOT_SUPPORTED 0xA2

/* An error built from a reason code: STRATA_ERR(STRATA_RC_MALFORMED) */
#define STRATA_ERR(rc) (-(int)(rc))

/*
 * Map a status to the MQTT 5 reason code to send: negated reason codes map
 * to themselves, STRATA_ENOMEM to Implementation specific error, anything
 * else to Unspecified error.  Never returns a success code for an error.
 */
static inline unsigned
strata_status_reason(int status)
{
	if (status <= -0x80 && status >= -0xFF)
		return (unsigned)(-status);
	if (status == STRATA_ENOMEM)
		return STRATA_RC_IMPL_SPECIFIC;
	return STRATA_RC_UNSPECIFIED;
}

#endif
