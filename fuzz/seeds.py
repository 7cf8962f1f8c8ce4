#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into fuzz/seeds/<target>/, from
the event fixtures (topics/tests/fixtures/valid) and a few request bodies,
tokens and claims. Run from the repository: python3 fuzz/seeds.py"""
import json
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
seeds = root / "fuzz" / "seeds"

# Topic::ALL's order (topics/src/registry.rs): the event decoder's first byte.
TOPICS = ["shop.users", "shop.catalog", "shop.inventory", "shop.carts", "shop.orders", "shop.payments",
          "shop.shipments", "shop.reviews", "shop.vendors", "shop.clickstream", "shop.promotions",
          "shop.credentials", "shop.order-status", "shop.alerts", "shop.notifications", "shop.dead-letter"]

# Which topic each type goes on, from the contract's table of topics.
contract = (root.parent / "shared" / "contract" / "events.md").read_text()
topic_of = {}
for line in contract.splitlines():
    row = re.match(r"\|\s*(?:derived: )?`(shop\.[a-z-]+)`\s*\|[^|]*\|([^|]*)\|", line)
    if row:
        for name in re.findall(r"[A-Z][A-Za-z]*\.[A-Za-z]+", row.group(2)):
            topic_of[name] = row.group(1)


def write(target, name, data):
    directory = seeds / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


for fixture in sorted((root / "topics" / "tests" / "fixtures" / "valid").glob("*.json")):
    event = json.loads(fixture.read_text())
    topic = topic_of.get(event["type"])
    if topic is None:
        continue
    key = event["subject"].encode()
    value = json.dumps(event, separators=(",", ":")).encode()
    write("event_decoder", fixture.stem, bytes([TOPICS.index(topic), len(key)]) + key + value)

write("consistency_token", "one", b"shop.orders:0:17")
write("consistency_token", "two", b"t1.shop.carts:2:5,t1.shop.orders:0:0")

claims = {"sub": "usr-1", "role": "shopper", "iss": "shopflow", "aud": "shopflow-api",
          "iat": 4102444000, "exp": 4102444600}
write("jwt", "signed-access", b"\x01" + json.dumps(claims).encode())
write("jwt", "signed-refresh", b"\x01" + json.dumps({**claims, "token_use": "refresh", "jti": "r-1"}).encode())
write("jwt", "as-sent", b"\x00eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3ItMSJ9.c2lnbmF0dXJl")

bodies = [
    {"productId": "prd-1", "quantity": 2},
    {"productId": "prd-1", "sessionId": "ses-1"},
    {"query": "red lamp", "sessionId": "ses-1", "results": ["prd-1"]},
    {"paymentMethod": "card", "promoCode": "SAVE10", "shippingAddress": {"street": "1 Main St", "city": "Salem",
                                                                         "zipcode": "12345", "country": "US"}},
    {"amount": 500, "method": "card"},
    {"rating": 5, "title": "Good", "body": "Works."},
    {"items": [{"productId": "prd-1", "quantity": 1}], "reason": "damaged"},
    {"email": "a@example.com", "password": "correct horse battery staple", "name": "A"},
]
for route in range(0, 64, 3):
    for caller in range(3):
        body = bodies[(route + caller) % len(bodies)]
        write("request_bodies", f"r{route}-c{caller}", bytes([route, caller]) + json.dumps(body).encode())
print(f"seeds written under {seeds}")
