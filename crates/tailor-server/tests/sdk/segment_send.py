"""Sends an e-commerce stream to Tailor with the official Segment Python SDK
(segment-analytics-python), unchanged: only its host and write key are set.

usage: segment_send.py HOST WRITE_KEY  -> prints the messageIds sent, one JSON list
"""
import json
import sys

import segment.analytics as analytics

failures = []


def on_error(error, items):
    failures.append(repr(error))


def main():
    host, write_key = sys.argv[1], sys.argv[2]
    analytics.write_key = write_key
    analytics.host = host
    analytics.on_error = on_error
    analytics.max_retries = 0
    sent = []
    for u in range(5):
        user = "sdk-user-%d" % u
        analytics.identify(user, {"email": None, "plan": "free"}, message_id="id-%d" % u)
        sent.append("id-%d" % u)
        for i in range(4):
            mid = "view-%d-%d" % (u, i)
            analytics.track(user, "Product Viewed", {
                "product_id": "SDK-P%d" % i, "category": "sdk", "price": 9.5, "currency": "USD",
            }, message_id=mid)
            sent.append(mid)
        analytics.page(user, category="Docs", name="Home", properties={"url": "http://x/"},
                       message_id="page-%d" % u)
        sent.append("page-%d" % u)
        analytics.track(user, "Order Completed", {
            "order_id": "o-%d" % u, "revenue": 9.5,
            "products": [{"product_id": "SDK-P0", "quantity": 1, "price": 9.5}],
        }, message_id="order-%d" % u)
        sent.append("order-%d" % u)
    analytics.flush()
    analytics.shutdown()
    if failures:
        print(json.dumps({"failures": failures}))
        sys.exit(1)
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
