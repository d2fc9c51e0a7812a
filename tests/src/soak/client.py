# Mixed SMTP client of the soak test (tests/src/soak.rs): runs SESSIONS real
# SMTP sessions, CONCURRENCY at a time, each one chosen deterministically from
# its index (legal, several messages, illegal verbs, EHLO + pipelining when
# the server advertises it, pipelining without advertisement, abort with RST)
# with message bodies of varied sizes. Every reply code is checked; every
# message the server confirmed with 250 is written to OUT as
# "MSG tag sha256 length"; failures as "FAIL index reason"; a summary last.
#
# usage: client.py HOST PORT SESSIONS CONCURRENCY MODE(smtp|esmtp) SEED OUT
import asyncio
import hashlib
import random
import socket
import struct
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
SESSIONS, CONCURRENCY = int(sys.argv[3]), int(sys.argv[4])
MODE, SEED, OUT = sys.argv[5], int(sys.argv[6]), sys.argv[7]
TIMEOUT = 120

# Body bytes: printable ASCII and 8-bit bytes, never CR or LF.
ALPHABET = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
TABLE = bytes(ALPHABET[i % len(ALPHABET)] for i in range(256))
ILLEGAL = [b"EXPN staff", b"TURN", b"XYZZY frob", b"ATRN example.net"]

delivered = []
failures = []
aborted_ports = []
stats = {"sessions": 0, "illegal_sent": 0, "pipelined": 0, "aborted": 0,
         "ehlo_masked_ok": 0}


class Fail(Exception):
    pass


def body_for(rng, tag):
    r = rng.random()
    if r < 0.6:
        size = rng.randint(0, 2000)
    elif r < 0.9:
        size = rng.randint(2000, 32000)
    elif r < 0.99:
        size = rng.randint(32000, 200000)
    else:
        size = rng.randint(400000, 1000000)
    raw = rng.randbytes(size).translate(TABLE)
    lines = [b"X-Soak-Id: " + tag.encode(), b"Subject: soak " + tag.encode(), b""]
    pos = 0
    while pos < len(raw):
        n = min(rng.choice((0, 1, 10, 72, 76, 200, 998)), len(raw) - pos)
        line = raw[pos:pos + n]
        pos += max(n, 1)
        k = rng.random()
        if k < 0.05:
            line = b"." + line
        elif k < 0.07:
            line = b"."
        lines.append(line)
    body = b"".join(l + b"\r\n" for l in lines)
    wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
    return body, wire + b".\r\n"


class Session:
    def __init__(self, reader, writer, index):
        self.r, self.w, self.index = reader, writer, index

    async def reply(self):
        lines = []
        while True:
            line = await asyncio.wait_for(self.r.readline(), TIMEOUT)
            if not line:
                raise Fail("connection closed while waiting for a reply")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    async def cmd(self, line, expect):
        self.w.write(line + b"\r\n")
        await self.w.drain()
        return await self.expect(expect, line)

    async def expect(self, expect, what):
        code, lines = await self.reply()
        if code not in expect:
            raise Fail("%r: got %r" % (what, b"".join(lines)))
        return code, lines

    async def message(self, rng, tag, pipelined=False, rcpts=1):
        body, wire = body_for(rng, tag)
        cmds = [b"MAIL FROM:<soak@client.example.net>"]
        cmds += [b"RCPT TO:<user%d@mail.soak.test>" % k for k in range(rcpts)]
        cmds.append(b"DATA")
        if pipelined:
            self.w.write(b"".join(c + b"\r\n" for c in cmds))
            await self.w.drain()
            for c in cmds[:-1]:
                await self.expect((250,), c)
            await self.expect((354,), b"DATA")
        else:
            for c in cmds[:-1]:
                await self.cmd(c, (250,))
            await self.cmd(b"DATA", (354,))
        self.w.write(wire)
        await self.w.drain()
        await self.expect((250,), b"end of data")
        delivered.append((tag, hashlib.sha256(body).hexdigest(), len(body)))


async def run_session(index):
    rng = random.Random(SEED * 1_000_003 + index)
    kind = rng.choices(
        ["plain", "multi", "illegal", "ehlo", "rude", "abort"],
        weights=[30, 15, 20, 25, 4, 6])[0]
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, PORT, limit=1 << 20), TIMEOUT)
    s = Session(reader, writer, index)
    tag = "c%d-%d" % (SEED, index)
    try:
        await s.expect((220,), b"greeting")
        if kind == "ehlo":
            if MODE == "smtp":
                # EHLO is illegal in SMTP mode: masked, answered 500; fall back.
                await s.cmd(b"EHLO client.example.net", (500,))
                stats["illegal_sent"] += 1
                await s.cmd(b"HELO client.example.net", (250,))
                await s.message(rng, tag + "-0")
            else:
                _, lines = await s.cmd(b"EHLO client.example.net", (250,))
                kws = [l[4:].strip().upper() for l in lines[1:]]
                if b"STARTTLS" in kws or b"XXXXXXXX" not in kws:
                    raise Fail("EHLO reply not masked: %r" % lines)
                stats["ehlo_masked_ok"] += 1
                if b"PIPELINING" not in kws:
                    raise Fail("PIPELINING not advertised: %r" % lines)
                n = rng.randint(1, 3)
                for m in range(n):
                    await s.message(rng, "%s-%d" % (tag, m), pipelined=True,
                                    rcpts=rng.randint(1, 3))
                    stats["pipelined"] += 1
            await s.cmd(b"QUIT", (221,))
        elif kind == "rude":
            # Pipelines without an advertisement: the firewall withholds the
            # extra commands until their predecessors are answered.
            await s.cmd(b"HELO client.example.net", (250,))
            await s.message(rng, tag + "-0", pipelined=True, rcpts=2)
            stats["pipelined"] += 1
            await s.cmd(b"QUIT", (221,))
        else:
            await s.cmd(b"HELO client.example.net", (250,))
            if kind == "illegal":
                for _ in range(rng.randint(1, 3)):
                    await s.cmd(rng.choice(ILLEGAL), (500,))
                    stats["illegal_sent"] += 1
                if MODE == "smtp":
                    await s.cmd(b"ETRN @client.example.net", (500,))
                    stats["illegal_sent"] += 1
            n = rng.randint(2, 4) if kind == "multi" else 1
            for m in range(n):
                if kind == "multi":
                    await s.cmd(b"NOOP", (250,))
                    await s.cmd(b"VRFY postmaster", (252,))
                    await s.cmd(b"HELP", (214,))
                await s.message(rng, "%s-%d" % (tag, m), rcpts=rng.randint(1, 2))
                if kind == "multi":
                    await s.cmd(b"RSET", (250,))
            if kind == "abort":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                stats["aborted"] += 1
                aborted_ports.append(sock.getsockname()[1])
            else:
                await s.cmd(b"QUIT", (221,))
        stats["sessions"] += 1
    except (Fail, OSError, asyncio.TimeoutError, ValueError) as e:
        failures.append((index, kind, repr(e)[:300]))
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def main():
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i):
        async with sem:
            try:
                await run_session(i)
            except (OSError, asyncio.TimeoutError) as e:
                failures.append((i, "connect", repr(e)[:300]))

    await asyncio.gather(*(one(i) for i in range(SESSIONS)))
    with open(OUT, "w") as f:
        for tag, h, n in delivered:
            f.write("MSG %s %s %d\n" % (tag, h, n))
        for i, kind, why in failures:
            f.write("FAIL %d %s %s\n" % (i, kind, why.replace("\n", " ")))
        for port in aborted_ports:
            f.write("ABORT %d\n" % port)
        f.write("STATS %d %d %d %d %d\n" % (
            stats["sessions"], stats["illegal_sent"], stats["pipelined"],
            stats["aborted"], stats["ehlo_masked_ok"]))


asyncio.run(main())
