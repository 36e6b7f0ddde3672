#!/usr/bin/env python3
"""Operations on one large mailbox, timed with Python's imaplib (scripts/bench-large.mjs).

argv: port user password reps. Prints one JSON object: the median ms of each operation.
"""
import imaplib
import json
import statistics
import sys
import time

port, user, password, reps = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
MSG = b"From: bench@example.com\r\nSubject: probe\r\n\r\n" + b"x" * 2000 + b"\r\n"


def timed(fn, n=reps):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(out), 2)


def ok(res):
    typ, data = res
    if typ != "OK":
        raise SystemExit(f"{typ} {data}")
    return data


# imaplib refuses lines over 1,000,000 bytes by default; a UID SEARCH of a million messages has
# about 7 MB on one line (both servers answer it so)
imaplib._MAXLINE = 1 << 30
c = imaplib.IMAP4("127.0.0.1", port)
ok(c.login(user, password))
r = {}
r["select"] = timed(lambda: ok(c.select("INBOX")))
exists = int(ok(c.select("INBOX"))[0])
r["status"] = timed(lambda: ok(c.status("INBOX", "(MESSAGES UIDNEXT UNSEEN)")))
r["fetch_flags_all"] = timed(lambda: ok(c.fetch("1:*", "(FLAGS)")), max(3, reps // 2))
r["search_unseen"] = timed(lambda: ok(c.uid("SEARCH", "UNSEEN")), max(3, reps // 2))
r["fetch_last50_envelope"] = timed(lambda: ok(c.fetch(f"{max(1, exists - 49)}:*", "(ENVELOPE)")))
r["append"] = timed(lambda: ok(c.append("INBOX", None, None, MSG)))
r["store"] = timed(lambda: ok(c.store("*", "+FLAGS", "(\\Flagged)")) and ok(c.store("*", "-FLAGS", "(\\Flagged)")))
r["store"] = round(r["store"] / 2, 2)


def expunge_one():
    ok(c.store("*", "+FLAGS", "(\\Deleted)"))
    ok(c.expunge())


r["expunge"] = timed(expunge_one)
r["exists"] = exists
c.logout()
print(json.dumps(r))
