/*
 * shares.c - the broker's side of shared subscriptions
 * ($share/<group>/<filter>; the routers pick the member, router/shares.c).
 *
 * A shared subscription is a subscription of its session like any other
 * (in the session's list and in the local table, stored with a persistent
 * session), but the local fan-out skips it and no route is sent for it:
 * the routers holding its filter learn the member instead.  Membership
 * (sub->member) follows the connection:
 *   not a member --SUBSCRIBE on a connection, or the session's connection
 *                  accepted--> member: SHARE_ADD to the routers
 *   member --UNSUBSCRIBE, the connection gone (session kept or ended), the
 *            session handed to another broker--> not a member: SHARE_REMOVE
 * A message a router picked a member for comes as a Deliver naming it.
 * Leaving gives back what the member had not taken: the QoS 1/2 messages
 * of its shared subscriptions still queued or unacknowledged go to the
 * routers again (Publish with share_group), to another member; so does a
 * Deliver for a member that left meanwhile.  At QoS 1 a message a member
 * received but had not acknowledged when it left may reach two members
 * (MQTT allows it: the first never acknowledged it).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

bool
broker_share_filter(const char *filter, size_t len)
{
	return len > 7 && memcmp(filter, "$share/", 7) == 0;
}

static void
shares_announce(struct strata_broker *b, struct broker_session *s,
    struct broker_sub *sub, bool add)
{
	struct broker_sess_entry e = {s->client_id, sub->filter->name,
	    sub->filter->len, sub->options, sub->sub_id, true};

	broker_routers_session(b, add ? STRATA__ROUTE_UPDATE__OP__SHARE_ADD :
	    STRATA__ROUTE_UPDATE__OP__SHARE_REMOVE, &e);
	sub->member = add;
}

void
broker_shares_sub(struct broker_session *s, struct broker_sub *sub, bool add)
{
	if (!broker_share_filter(sub->filter->name, sub->filter->len) ||
	    s->broker->stopping)
		return;
	if (add && s->conn != NULL && s->dstate != DSTATE_RELEASING)
		shares_announce(s->broker, s, sub, true);
	else if (!add && sub->member)
		shares_announce(s->broker, s, sub, false);
}

void
broker_shares_join(struct broker_session *s)
{
	struct strata_list *pos;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		if (!sub->member)
			broker_shares_sub(s, sub, true);
	}
}

/* Give one message back to the routers, for another member of group. */
static void
shares_return(struct strata_broker *b, const struct strata_message *m,
    const char *group)
{
	struct broker_origin from = {"", 0, 0, group};

	(*b->m.share_returned)++;
	(void)broker_routers_publish(b, &from, m);
}

void
broker_shares_leave(struct broker_session *s)
{
	struct strata_broker *b = s->broker;
	struct strata_list *lists[2] = {&s->inflight, &s->queue};
	struct strata_list *pos, *tmp;

	if (b->stopping)
		return;
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		if (sub->member)
			shares_announce(b, s, sub, false);
	}
	for (int i = 0; i < 2; i++) {
		STRATA_LIST_FOREACH_SAFE(pos, tmp, lists[i]) {
			struct broker_out *o = STRATA_CONTAINER_OF(pos,
			    struct broker_out, node);
			struct strata_message v;

			if (o->share == NULL)
				continue;
			v = broker_msg_view(o->msg);
			v.qos = o->qos;
			v.retain = false;
			shares_return(b, &v, o->share);
			broker_qos_forget(s, o);
		}
	}
}

void
broker_shares_deliver(struct strata_broker *b, const Strata__Deliver *d,
    struct broker_msg *view, struct broker_msg **owned)
{
	struct broker_session *s = broker_session_find(b, d->target_client_id,
	    strlen(d->target_client_id));
	struct broker_sub *sub = NULL;
	struct strata_message v;
	uint8_t qos;

	if (s != NULL)
		sub = broker_sub_find(s, d->target_filter,
		    strlen(d->target_filter));
	if (sub == NULL || !sub->member) {
		/* it left: another member, for what needs an answer */
		if (view->qos > 0) {
			v = broker_msg_view(view);
			v.retain = false;
			shares_return(b, &v, d->target_filter);
		}
		return;
	}
	qos = STRATA_SUBOPT_QOS(sub->options);
	if (qos > view->qos)
		qos = view->qos;
	if (qos > 0 && *owned == NULL) {
		v = broker_msg_view(view);
		*owned = broker_msg_new(&v);
	}
	b->cur_share = sub->filter->name;
	broker_publish_to_session(s, qos > 0 ? *owned : view, qos,
	    (sub->options & STRATA_SUBOPT_RETAIN_AS_PUBLISHED) && d->retain,
	    sub->sub_id != 0 ? 1 : 0, &sub->sub_id);
	b->cur_share = NULL;
}
