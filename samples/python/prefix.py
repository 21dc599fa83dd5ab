"""`-P samples/python/prefix.py`: called with each record (bytes, as it would have been
printed) instead of printing it."""

import sys

count = 0


def app(record: bytes) -> None:
    global count
    count += 1
    sys.stdout.write("#%d %s" % (count, record.decode("utf-8", "replace")))
