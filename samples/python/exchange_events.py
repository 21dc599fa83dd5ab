"""`%python(exchange_events)`: one `Events` instance per exchange sees the callbacks of
that exchange; `result(t)` is what the keyword prints. Callbacks a class leaves out are
skipped."""


class Events:
    def __init__(self):
        self.events = []
        self.request = b""
        self.response = b""

    def _note(self, name):
        if not self.events or self.events[-1] != name:
            self.events.append(name)

    def on_opening(self, conn, t):
        self._note("opening")

    def on_open(self, conn, t):
        self._note("open")

    def on_request(self, conn, data, t):
        self.request += data
        self._note("request")

    def on_response(self, conn, data, t):
        self.response += data
        self._note("response")

    def on_close(self, conn, t, ip, port):
        self._note("close by %s:%d" % (ip, port))

    def on_timed_out(self, conn, t):
        self._note("timed out")

    def on_interrupted(self):
        self._note("interrupted")

    def result(self, t):
        first_line = lambda data: data.split(b"\r\n")[0].decode("ascii", "replace")
        return "%s | %s | %s" % (
            first_line(self.request),
            first_line(self.response),
            ", ".join(self.events),
        )


app = Events
