#!/usr/bin/python3
"""The fake Ollama server of tests/fixtures as a separate benchmark process, with a control pipe.

    llm_server.py [--fast N | --rate TOKENS_PER_S --tokens N] [--powersim]

Prints one JSON line {"port": P, "sysfs_root": DIR or null, "pid": …} once it serves, then reads
commands on stdin, one per line, and answers each with one JSON line on stdout:

    fast N              every chat streams N pieces as fast as possible
    rate R N            every chat streams N pieces at R pieces/s
    script JSON         every chat follows Script(**JSON) (see tests/fixtures/fake_llm_server.py)
    stats               the chats finished since the last "stats": [{outcome, stream, pieces, arrival_ns,
                        first_ns (just before the first piece was written), last_ns, final_ns}],
                        all CLOCK_MONOTONIC (time.monotonic_ns()), plus the server's own CPU time
    quit (or EOF)       stop

With --powersim a power simulator (intel-2s layout: 8 distinct RAPL zones plus the mmio
duplicate) builds a fake powercap tree under /dev/shm (its root is printed as sysfs_root, and
removed at exit) and follows the server's phases, as in the integration tests.

Standard library only; runs under /usr/bin/python3.
"""

import argparse
import json
import os
import resource
import signal
import sys

sys.dont_write_bytecode = True
_FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures")
sys.path.insert(0, _FIXTURES)

from fake_llm_server import FakeLLMServer, Script  # noqa: E402
from powersim import PowerSim  # noqa: E402


def script_for(fast=None, rate=None, tokens=32):
    if fast is not None:
        return Script(tokens=int(fast))
    interval = 1000.0 / float(rate) if rate else 0.0
    return Script(tokens=int(tokens), token_interval_ms=interval)


def chat_stats(chat):
    phases = {name: (t0, t1) for name, t0, t1 in chat.phases}
    decode = phases.get("decode", (None, None))
    return {
        "outcome": chat.outcome,
        "stream": chat.stream,
        "pieces": chat.pieces_sent,
        "arrival_ns": chat.request.arrival_ns,
        "first_ns": decode[0],
        "last_ns": decode[1],
        "final_ns": chat.final_ns,
    }


def self_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def serve(srv, out):
    reported = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "fast":
            srv.scenario = script_for(fast=int(words[1]))
            reply = {"ok": True}
        elif words[0] == "rate":
            srv.scenario = script_for(rate=float(words[1]), tokens=int(words[2]))
            reply = {"ok": True}
        elif words[0] == "script":
            fields = json.loads(line.split(None, 1)[1])
            if isinstance(fields.get("stall_after"), list):
                fields["stall_after"] = tuple(fields["stall_after"])
            srv.scenario = Script(**fields)
            reply = {"ok": True}
        elif words[0] == "stats":
            with srv.lock:
                chats = [c for c in srv.chats if c.finished.is_set() or c.outcome is not None]
            done = chats[reported:]
            reported = len(chats)
            reply = {"chats": [chat_stats(c) for c in done], "cpu_s": self_cpu_s()}
        else:
            reply = {"error": "unknown command %r" % words[0]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Ollama server for llmlab benchmarks.")
    p.add_argument("--fast", type=int, metavar="N")
    p.add_argument("--rate", type=float, metavar="TOKENS_PER_S")
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--powersim", action="store_true", help="run a power simulator (fake powercap tree)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # clean up (the simulator's tree) on SIGTERM too

    sim = None
    if args.powersim:
        sim = PowerSim(layout="intel-2s")
        sim.start()
    srv = FakeLLMServer(scenario=script_for(args.fast, args.rate, args.tokens), power=sim)
    srv.start()
    try:
        sys.stdout.write(json.dumps({"port": srv.port, "sysfs_root": sim.root if sim else None,
                                     "pid": os.getpid()}) + "\n")
        sys.stdout.flush()
        serve(srv, sys.stdout)
    finally:
        srv.stop()
        if sim:
            sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
