/*
 * client.c - one MQTT client connection of strata-bench: socket set-up
 * (source address, TLS), framing and decoding with the libstrata codec, and
 * the client side of the QoS 1/2 flows.  Scenario decisions are made by the
 * bench_on_*() callbacks of worker.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "bench.h"
#include "mqtt.h"

#define CLIENT_MAX_PACKET (1u << 20)

/* Expand %i (client index), %c (client id), %w (worker) and %% in tmpl. */
void
bench_format(
    char *out, size_t cap, const char *tmpl, const struct bench_client *c)
{
	size_t n = 0;
	int k;

	for (; *tmpl && n + 1 < cap; tmpl++) {
		k = 0;
		if (*tmpl != '%' || !tmpl[1]) {
			out[n++] = *tmpl;
			continue;
		}
		tmpl++;
		if (*tmpl == 'i')
			k = snprintf(out + n, cap - n, "%u", c->gidx);
		else if (*tmpl == 'c')
			k = snprintf(out + n, cap - n, "%s", c->id);
		else if (*tmpl == 'w')
			k = snprintf(out + n, cap - n, "%d", c->w->index);
		else
			out[n++] = *tmpl;
		if (k > 0)
			n += (size_t)k < cap - n ? (size_t)k : cap - n - 1;
	}
	out[n] = '\0';
}

static void
client_send(struct bench_client *c, const struct strata_mqtt_packet *pkt)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	size_t size, n;

	size = strata_mqtt_encoded_size(pkt, c->w->o->version);
	if (evbuffer_reserve_space(out, size, &v, 1) < 1)
		bench_fatal("out of memory");
	n = strata_mqtt_encode(pkt, c->w->o->version, v.iov_base, size);
	if (n != size)
		bench_fatal("encoder wrote %zu of %zu bytes", n, size);
	v.iov_len = n;
	evbuffer_commit_space(out, &v, 1);
	c->last_tx = bench_now();
}

static void
client_send_connect(struct bench_client *c)
{
	const struct bench_opts *o = c->w->o;
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_connect *cn = &pkt.u.connect;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_CONNECT;
	cn->version = o->version;
	/* a fresh id each run: Clean Session 0 finds no earlier session */
	cn->clean_start = o->version == STRATA_MQTT_V5 ||
	    o->session_expiry == 0;
	cn->keepalive = (uint16_t)o->keepalive;
	cn->client_id.p = (const uint8_t *)c->id;
	cn->client_id.len = (uint32_t)strlen(c->id);
	/* the broker may then send aliases; the payload header identifies
	 * every message, so the topic need not be resolved */
	if (o->version == STRATA_MQTT_V5 && o->topic_alias_max > 0) {
		pkt.props.present =
		    STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS_MAXIMUM);
		pkt.props.topic_alias_maximum = (uint16_t)o->topic_alias_max;
	}
	if (o->version == STRATA_MQTT_V5 && o->session_expiry > 0) {
		pkt.props.present |=
		    STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY);
		pkt.props.session_expiry = (uint32_t)o->session_expiry;
	}
	if (o->username) {
		cn->has_username = true;
		cn->username.p = (const uint8_t *)o->username;
		cn->username.len = (uint32_t)strlen(o->username);
	}
	if (o->password) {
		cn->has_password = true;
		cn->password.p = (const uint8_t *)o->password;
		cn->password.len = (uint32_t)strlen(o->password);
	}
	client_send(c, &pkt);
	c->state = CS_CONNACK;
}

/* One SUBSCRIBE of n filters at --qos (the caller keeps n within the
 * broker's filters per SUBSCRIBE).  The client is CS_SUBACK until every
 * SUBSCRIBE sent has its SUBACK. */
void
bench_client_subscribe(struct bench_client *c, uint16_t packet_id,
    const char *const *filters, uint32_t n)
{
	struct strata_mqtt_packet pkt;
	uint8_t *entries, *e;
	size_t len, total = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		total += strlen(filters[i]) + 3;
	entries = e = malloc(total ? total : 1);
	if (!entries)
		bench_fatal("out of memory");
	for (i = 0; i < n; i++) {
		len = strlen(filters[i]);
		*e++ = (uint8_t)(len >> 8);
		*e++ = (uint8_t)len;
		memcpy(e, filters[i], len);
		e += len;
		*e++ = (uint8_t)c->w->o->qos;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_SUBSCRIBE;
	pkt.flags = 0x2;
	pkt.u.subscribe.packet_id = packet_id;
	pkt.u.subscribe.count = n;
	pkt.u.subscribe.entries.p = entries;
	pkt.u.subscribe.entries.len = (uint32_t)total;
	client_send(c, &pkt);
	free(entries);
	c->subacks_pending++;
	c->sub_entries += n;
	c->state = CS_SUBACK;
}

static void
client_send_ack(struct bench_client *c, uint8_t type, uint16_t pid)
{
	struct strata_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = type;
	pkt.flags = type == STRATA_MQTT_PUBREL ? 0x2 : 0;
	pkt.u.ack.packet_id = pid;
	client_send(c, &pkt);
}

/*
 * Publishers' window.  QoS 1/2 never have more than `window` packets
 * unacknowledged (the protocol's limit).  At max rate with subscribers in
 * this process the window is also end to end: at most `window` messages
 * sent but not yet delivered to every receiver, so a fast publisher cannot
 * overflow the broker's queues for a slower subscriber (that would measure
 * the broker's drop policy, not its throughput).  Open-loop runs (--rate)
 * have no end-to-end window: their schedule does not wait for anyone.
 */
bool
bench_client_window_open(const struct bench_client *c)
{
	const struct bench_worker *w = c->w;
	uint64_t done;

	if (c->state != CS_READY)
		return false;
	if (w->o->qos > 0 && c->inflight >= c->window)
		return false;
	if (w->o->rate > 0)
		return true;
	if (w->receivers == 0)
		return w->o->qos > 0 ||
		       evbuffer_get_length(bufferevent_get_output(c->bev)) <
		           (size_t)c->window * w->o->size;
	done = c->delivered / w->receivers + c->forgiven;
	return c->seq < done + c->window;
}

static uint16_t
client_take_pid(struct bench_client *c)
{
	uint16_t pid;

	do {
		pid = ++c->next_pid;
		if (pid == 0)
			pid = c->next_pid = 1;
	} while (c->pid_used[pid >> 3] & (1u << (pid & 7)));
	c->pid_used[pid >> 3] |= (uint8_t)(1u << (pid & 7));
	return pid;
}

static void
client_put_pid(struct bench_client *c, uint16_t pid)
{
	uint8_t bit = (uint8_t)(1u << (pid & 7));

	if (!(c->pid_used[pid >> 3] & bit))
		return;
	c->pid_used[pid >> 3] &= (uint8_t)~bit;
	c->inflight--;
	bench_on_acked(c);
}

/* One PUBLISH at --qos; topic and payload are copied into the output
 * buffer.  At QoS 1/2 it takes a packet id and counts in flight until
 * its PUBACK or PUBCOMP. */
static void
client_publish(struct bench_client *c, const char *topic,
    const uint8_t *payload, size_t len, bool retain)
{
	const struct bench_opts *o = c->w->o;
	struct strata_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_PUBLISH;
	pkt.flags = (uint8_t)(o->qos << 1 | (retain ? 1 : 0));
	pkt.u.publish.qos = (uint8_t)o->qos;
	pkt.u.publish.retain = retain;
	pkt.u.publish.topic.p = (const uint8_t *)topic;
	pkt.u.publish.topic.len = (uint32_t)strlen(topic);
	pkt.u.publish.payload.p = payload;
	pkt.u.publish.payload.len = (uint32_t)len;
	if (o->qos > 0) {
		pkt.u.publish.packet_id = client_take_pid(c);
		c->inflight++;
	}
	client_send(c, &pkt);
}

void
bench_client_publish(struct bench_client *c, const char *topic,
    const uint8_t *payload, size_t len)
{
	client_publish(c, topic, payload, len, false);
}

/* The same with the RETAIN flag (sizing). */
void
bench_client_publish_retained(struct bench_client *c, const char *topic,
    const uint8_t *payload, size_t len)
{
	client_publish(c, topic, payload, len, true);
}

/* The payload header: magic, run nonce, publisher, sequence, timestamp. */
void
bench_client_send_publish(struct bench_client *c, uint64_t ts)
{
	struct bench_worker *w = c->w;
	uint32_t hdr[4] = {BENCH_MAGIC, w->o->nonce, c->gidx, c->seq};

	memcpy(w->payload, hdr, sizeof(hdr));
	memcpy(w->payload + sizeof(hdr), &ts, sizeof(ts));
	bench_client_publish(c, c->topic, w->payload, w->o->size);
	c->seq++;
}

void
bench_client_send_ping(struct bench_client *c)
{
	struct strata_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_PINGREQ;
	client_send(c, &pkt);
	c->ping_out = true;
}

void
bench_client_send_disconnect(struct bench_client *c)
{
	struct strata_mqtt_packet pkt;

	if (c->state != CS_READY && c->state != CS_SUBACK)
		return;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_DISCONNECT;
	client_send(c, &pkt);
}

static void
client_on_connack(struct bench_client *c, const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_props *pr = &p->props;

	if (p->u.connack.reason != 0) {
		/* counted as a failed connection by bench_on_closed() */
		bench_client_close(c);
		return;
	}
	if (c->window == 0 || c->window > c->w->o->inflight)
		c->window = (uint16_t)c->w->o->inflight;
	if (c->w->o->qos > 0 &&
	    (pr->present & STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM)) &&
	    pr->receive_maximum < c->window)
		c->window = pr->receive_maximum;
	c->state = CS_READY;
	if (c->role == ROLE_SUB) {
		const char *filter = c->topic;

		bench_client_subscribe(c, 1, &filter, 1);
	}
	bench_on_connack(c);
}

/* Every filter sent must be granted: a SUBACK with fewer reason codes
 * than its SUBSCRIBE had filters leaves sub_granted short. */
static void
client_on_suback(struct bench_client *c, const struct strata_mqtt_packet *p)
{
	uint32_t i;

	if (c->state != CS_SUBACK || c->subacks_pending == 0)
		return;
	for (i = 0; i < p->u.suback.reasons.len; i++)
		if (p->u.suback.reasons.p[i] < 0x80)
			c->sub_granted++;
	if (--c->subacks_pending > 0)
		return;
	c->state = CS_READY;
	bench_on_suback(c, c->sub_granted == c->sub_entries);
}

static void
client_on_publish(struct bench_client *c, const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;

	if (pub->qos == 1)
		client_send_ack(c, STRATA_MQTT_PUBACK, pub->packet_id);
	else if (pub->qos == 2)
		client_send_ack(c, STRATA_MQTT_PUBREC, pub->packet_id);
	bench_on_publish(
	    c, pub->topic.p, pub->topic.len, pub->payload.p, pub->payload.len);
}

static void
client_dispatch(struct bench_client *c, const struct strata_mqtt_packet *p)
{
	switch (p->type) {
	case STRATA_MQTT_CONNACK:
		client_on_connack(c, p);
		break;
	case STRATA_MQTT_SUBACK:
		client_on_suback(c, p);
		break;
	case STRATA_MQTT_PUBLISH:
		client_on_publish(c, p);
		break;
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBCOMP:
		c->ack_reason = p->u.ack.reason;
		if (c->pid_used)
			client_put_pid(c, p->u.ack.packet_id);
		break;
	case STRATA_MQTT_PUBREC:
		client_send_ack(c, STRATA_MQTT_PUBREL, p->u.ack.packet_id);
		break;
	case STRATA_MQTT_PUBREL:
		client_send_ack(c, STRATA_MQTT_PUBCOMP, p->u.ack.packet_id);
		break;
	case STRATA_MQTT_PINGRESP:
		c->ping_out = false;
		bench_on_pingresp(c);
		break;
	case STRATA_MQTT_DISCONNECT:
		bench_client_close(c);
		break;
	default:
		break;
	}
}

/* Frame and decode every whole packet in the input buffer. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct bench_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct strata_mqtt_packet pkt;
	size_t avail, total, head;
	uint8_t *p;
	int rc;

	while (c->state != CS_CLOSED && (avail = evbuffer_get_length(in))) {
		head = avail < 5 ? avail : 5;
		p = evbuffer_pullup(in, (ssize_t)head);
		rc = strata_mqtt_frame(p, head, CLIENT_MAX_PACKET, &total);
		if (rc == STRATA_AGAIN || (rc == 0 && total > avail))
			return;
		if (rc == 0) {
			p = evbuffer_pullup(in, (ssize_t)total);
			rc = strata_mqtt_decode(
			    p, total, c->w->o->version, &pkt);
		}
		if (rc != 0) {
			fprintf(stderr,
			    "strata-bench: %s: bad packet from "
			    "broker (status %d)\n",
			    c->id, rc);
			bench_client_close(c);
			return;
		}
		client_dispatch(c, &pkt);
		evbuffer_drain(in, total);
	}
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bench_client *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		client_send_connect(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		bench_client_close(c);
}

/* Mark closed and stop I/O; the bufferevent is freed at teardown so no
 * callback ever runs on freed memory. */
void
bench_client_close(struct bench_client *c)
{
	enum client_state prev = c->state;

	if (prev == CS_CLOSED || prev == CS_IDLE)
		return;
	c->state = CS_CLOSED;
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bench_on_closed(c, prev);
}

void
bench_client_free(struct bench_client *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	free(c->pid_used);
	c->pid_used = NULL;
	bench_shadow_free(c);
}

static int
client_socket(struct bench_client *c, struct sockaddr_in *dst)
{
	const struct bench_opts *o = c->w->o;
	struct sockaddr_in src;
	int fd, one = 1;

	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	dst->sin_port = htons((uint16_t)o->ports[c->gidx % o->n_ports]);
	if (inet_pton(AF_INET, o->host, &dst->sin_addr) != 1)
		bench_fatal("--host must be an IPv4 address: %s", o->host);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->n_sources == 0)
		return fd;
	/* Let connect() pick the port per 4-tuple, not bind() per address */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	inet_pton(AF_INET, o->sources[(c->gidx + c->role) % o->n_sources],
	    &src.sin_addr);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Start connecting.  Returns 0, or -1 when no socket could be made (the
 * client is then CS_CLOSED and counted as failed by the caller). */
int
bench_client_start(struct bench_client *c)
{
	struct bench_worker *w = c->w;
	struct sockaddr_in dst;
	struct bufferevent *under;
	SSL *ssl;
	int fd;

	c->t_start = bench_now();
	c->state = CS_TCP;
	fd = client_socket(c, &dst);
	if (fd < 0)
		goto fail;
	if (w->ssl) {
		ssl = SSL_new(w->ssl);
		if (!ssl)
			bench_fatal("SSL_new failed");
		c->bev = bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		c->bev =
		    bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev) {
		close(fd);
		goto fail;
	}
	/* --ws: MQTT over WebSocket, framed by a filter over the socket */
	under = c->bev;
	if (w->o->ws_path != NULL)
		c->bev = bench_ws_wrap(under, w->o->host,
		    ntohs(dst.sin_port), w->o->ws_path,
		    c->gidx * 2654435761u + c->role);
	bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(
	        under, (struct sockaddr *)&dst, sizeof(dst)) != 0)
		goto fail;
	return 0;
fail:
	c->state = CS_CLOSED;
	return -1;
}

SSL_CTX *
bench_ssl_ctx(const struct bench_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		bench_fatal("SSL_CTX_new failed");
	if (o->cafile) {
		if (SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1)
			bench_fatal("cannot load --cafile %s", o->cafile);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (o->cert && SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
		bench_fatal("cannot load --cert %s", o->cert);
	if (o->key &&
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
		bench_fatal("cannot load --key %s", o->key);
	return ctx;
}
