#!/usr/bin/env python3
"""smtp_sink.py -- the SMTP server tests/test_email.c talks to.

Listens on 127.0.0.1 on a free port (written to --port-file once it
listens), stores every message it accepts in --dir as NNNN.eml (the bytes
of DATA, CRLF line endings, dot-unstuffed) with NNNN.json beside it
(envelope sender and recipients), and appends one line per connection's
EHLO/HELO to --dir/connections.log.  Recipients decide the reply:
  tempfail*@...  451 4.3.0 at RCPT (try again later)
  reject*@...    550 5.1.1 at RCPT (no such user)
  flaky*@...     250 at RCPT, but 451 4.3.0 after the first DATA for that
                 address (its bytes kept as NNNN.rejected), 250 afterwards
  anyone else    250
AUTH (PLAIN, LOGIN) is offered without TLS: user "pmq" with password
"s3cret" is accepted, anything else gets 535; each attempt is logged in
connections.log as "AUTH <user> ok|refused".  Clients that do not
authenticate may send all the same.
Exits when its parent dies (the test program; not with --stay) or on SIGTERM.
"""
import argparse
import asyncio
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.count = 0
        self.flaky_seen = set()

    def _log_connection(self, verb, hostname):
        with open(os.path.join(self.dir, "connections.log"), "a") as f:
            f.write(f"{verb} {hostname}\n")

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"pmq"
              and auth_data.password == b"s3cret")
        login = "?"
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace")
        with open(os.path.join(self.dir, "connections.log"), "a") as f:
            f.write("AUTH {} {}\n".format(login, "ok" if ok else "refused"))
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self._log_connection("EHLO", hostname)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self._log_connection("HELO", hostname)
        session.host_name = hostname
        return "250 {}".format(server.hostname)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 <{}>: temporary failure, try again later".format(address)
        if local.startswith("reject"):
            return "550 5.1.1 <{}>: Recipient address rejected: User unknown".format(address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "{:04d}".format(self.count)
        base = os.path.join(self.dir, name)
        flaky = [a for a in envelope.rcpt_tos
                 if a.lower().startswith("flaky") and a.lower() not in self.flaky_seen]
        if flaky:
            self.flaky_seen.update(a.lower() for a in flaky)
            with open(base + ".rejected.tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(base + ".rejected.tmp", base + ".rejected")
            return "451 4.3.0 Temporary local problem, try again"
        # Written under a temporary name first: the test polls for *.eml.
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".json.tmp", base + ".json")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Ok: queued as SINK{}".format(name)


async def serve(args):
    sink = Sink(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.pmq.test", decode_data=False, enable_SMTPUTF8=True,
                     auth_require_tls=False, authenticator=sink.authenticate),
        host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.port_file + ".tmp", args.port_file)
    parent = os.getppid()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    while not stop.done():
        if not args.stay and os.getppid() != parent:  # the test program is gone
            break
        try:
            await asyncio.wait_for(asyncio.shield(stop), 0.5)
        except asyncio.TimeoutError:
            pass
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="where received messages go")
    p.add_argument("--port-file", required=True, help="gets the port once listening")
    p.add_argument("--stay", action="store_true",
                   help="keep running after the parent exits (scripts/pmq-demo)")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
