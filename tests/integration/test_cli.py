"""Smoke test with the stock mosquitto command-line clients."""

import mosq
from mqttc import unique


def test_mosquitto_sub_hash_sees_mosquitto_pub(cluster, proto):
    """mosquitto_sub -t '#' -v on broker 1 prints what mosquitto_pub sends
    to broker 0, as 'topic payload'."""
    topic = unique() + "/smoke"
    sub = mosq.Sub(cluster.host, cluster.mqtt_ports[1], "#", proto)
    try:
        sub.wait_subscribed()
        for qos in (0, 1, 2):
            mosq.pub(cluster.host, cluster.mqtt_ports[0], topic,
                     "hello-%d" % qos, proto, qos=qos)
            sub.wait_for(lambda l: l == "%s hello-%d" % (topic, qos),
                         what="hello-%d" % qos)
    finally:
        sub.stop()
