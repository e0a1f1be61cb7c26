#!/usr/bin/python3
"""Writes the seed corpus of fuzz_msg: a few well-formed messages of each
type in the layout of common/msg.h (version 4), as the daemons send them.
Run from the top of the tree after a change of the message layout:

    /usr/bin/python3 test/fuzz/gen-msg-seeds.py
"""
import json
import os
import struct

VERSION = 4
EVENTS, ANOMALIES, SET_STATE, CURSOR, ANOMALIES_ACK = 1, 2, 3, 4, 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "msg")


def s(text):
    b = text.encode()
    return struct.pack("<I", len(b)) + b + b"\0"


def msg(kind, records, prev=0):
    head = struct.pack("<BBHI", VERSION, kind, 0, len(records))
    if kind in (EVENTS, ANOMALIES):
        # events: the batch before this one; anomalies: the hand-over id
        head += struct.pack("<Q", prev)
    return head + b"".join(records)


def event(seq, ts, ev_id, app, model, status, lat, cost, present=0x11):
    obj = {"event_id": ev_id, "timestamp": "2025-11-06T12:00:00Z",
           "event_type": "llm.response", "application_id": app,
           "data": {"model": model, "status": status, "latency_ms": lat,
                    "cost": cost, "region": "eu"}}
    return (struct.pack("<QqqI", seq, ts, ts + 5, present)
            + struct.pack("<5d", lat, 0, 0, 0, cost)
            + s(ev_id) + s("llm.response") + s(app) + s(model) + s(status)
            + s("2025-11-06T12:00:00Z")
            + s(json.dumps(obj, separators=(",", ":"))))


def anomaly(seq, ts, status, sev, labels, expected=float("nan")):
    return (struct.pack("<QqqqqQ", seq, ts, ts + 10, ts - 60000, ts, 12)
            + struct.pack("<B", status)
            + struct.pack("<4d", 6100.5, expected, 4.2, 5000)
            + s("an-%d" % seq) + s("lat") + s("threshold") + s("lat")
            + s(sev) + s("chat") + s("gpt-4o") + s("latency_ms")
            + s("ev-1") + s("p95 latency_ms 6100.5 > 5000")
            + s(json.dumps(labels, separators=(",", ":")))
            + s('["ev-1","ev-2"]'))


def cursor(kind, consumer, seq):
    return struct.pack("<B", kind) + s(consumer) + struct.pack("<Q", seq)


def daemon(name, state, pid, since, restarts):
    return s(name) + struct.pack("<BiqI", state, pid, since, restarts)


T = 1762430400000
seeds = {
    "events-one": msg(EVENTS, [event(1, T, "test-001", "chat", "gpt-4o",
                                     "success", 1250, 0.045)]),
    "events-three": msg(EVENTS, [
        event(2, T, "e-1", "chat", "gpt-4o", "success", 800, 0.01),
        event(3, T + 61000, "e-2", "chat", "gpt-4o", "error", 9000, 2.0),
        event(4, T + 3600000, "e-3", "search", "", "", 0, 0, 0)], prev=1),
    "events-empty": msg(EVENTS, []),
    "anomalies-firing": msg(ANOMALIES, [
        anomaly(7, T, 0, "critical",
                {"application_id": "chat", "model": "gpt-4o"}, 4000.0)],
        prev=0x5eed00000001),
    "anomalies-resolved": msg(ANOMALIES, [
        anomaly(8, T, 1, "warning", {"application_id": "search"}),
        anomaly(9, T + 1, 0, "info", {})]),
    "set-state": msg(SET_STATE, [
        daemon("ingestd", 2, 1234, T, 0), daemon("detectd", 2, 1235, T, 1),
        daemon("stored", 3, 0, T, 4), daemon("alertd", 1, 1237, T, 0)]),
    "cursor": msg(CURSOR, [cursor(1, "stored", 41), cursor(2, "detectd", 7)]),
    "anomalies-ack": msg(ANOMALIES_ACK, [struct.pack("<Q", 0x5eed00000001),
                                         struct.pack("<Q", 0x5eed00000002)]),
    "bad-version": struct.pack("<BBHI", 1, EVENTS, 0, 0),
    "truncated": msg(EVENTS, [event(1, T, "x", "a", "m", "s", 1, 1)])[:-3],
}
os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)
