# Recording SMTP server of the soak test (tests/src/soak.rs): answers like a
# small ESMTP MTA and records every delivered message (sha256 of the body
# after dot-unstuffing) and every connection, one line each, flushed before
# the reply that confirms it, so a client that saw the confirmation can be
# sure the record exists.
#
# usage: server.py ADDR PORT RECORD_FILE
import asyncio
import hashlib
import sys

EHLO_REPLY = (
    b"250-mail.soak.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
    b"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
)
CLEAR_ILLEGAL = {b"EXPN", b"TURN", b"XYZZY", b"ATRN", b"BDAT"}
KNOWN = {b"HELO", b"EHLO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"NOOP",
         b"QUIT", b"VRFY", b"HELP", b"ETRN"}

out = None
queued = 0


def record(line):
    out.write(line + "\n")
    out.flush()


async def session(reader, writer):
    global queued
    peer = writer.get_extra_info("peername")
    record("OPEN %s:%d" % (peer[0], peer[1]) if peer else "OPEN ?")
    msgs = 0
    unknown = 0
    clear_illegal = 0
    ended = "reset"
    have_mail = False
    rcpts = 0
    try:
        writer.write(b"220 mail.soak.test ESMTP\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                ended = "eof"
                break
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in CLEAR_ILLEGAL:
                clear_illegal += 1
            if verb not in KNOWN:
                unknown += 1
                writer.write(b"500 5.5.2 Error: command not recognized\r\n")
            elif verb == b"EHLO":
                writer.write(EHLO_REPLY)
            elif verb == b"HELO":
                writer.write(b"250 mail.soak.test\r\n")
            elif verb == b"MAIL":
                have_mail, rcpts = True, 0
                writer.write(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                if have_mail:
                    rcpts += 1
                    writer.write(b"250 2.1.5 Ok\r\n")
                else:
                    writer.write(b"503 5.5.1 Error: need MAIL command\r\n")
            elif verb == b"RSET":
                have_mail, rcpts = False, 0
                writer.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"NOOP" or verb == b"ETRN":
                writer.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"VRFY":
                writer.write(b"252 2.0.0 Cannot VRFY user\r\n")
            elif verb == b"HELP":
                writer.write(b"214 2.0.0 Ask the soak test\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                ended = "quit"
                break
            elif verb == b"DATA":
                if not (have_mail and rcpts):
                    writer.write(b"503 5.5.1 Error: need RCPT command\r\n")
                else:
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    await writer.drain()
                    h = hashlib.sha256()
                    n = 0
                    tag = None
                    while True:
                        dl = await reader.readline()
                        if not dl:
                            raise ConnectionError("eof in data")
                        if dl == b".\r\n":
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        if tag is None and dl.startswith(b"X-Soak-Id: "):
                            tag = dl[11:].strip().decode("ascii", "replace")
                        h.update(dl)
                        n += len(dl)
                    msgs += 1
                    queued += 1
                    record("MSG %s %s %d" % (tag, h.hexdigest(), n))
                    have_mail, rcpts = False, 0
                    writer.write(b"250 2.0.0 Ok: queued as %d\r\n" % queued)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        ended = "reset"
    finally:
        record("CONN %s %d %d %d %s" % ("%s:%d" % (peer[0], peer[1]) if peer else "?", msgs, unknown,
                                        clear_illegal, ended))
        try:
            writer.close()
        except Exception:
            pass


async def main():
    global out
    addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = open(path, "a", buffering=1 << 16)
    server = await asyncio.start_server(session, addr, port, backlog=4096,
                                        limit=1 << 20, reuse_address=True)
    record("READY")
    async with server:
        await server.serve_forever()


asyncio.run(main())
