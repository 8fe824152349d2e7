#!/usr/bin/python3
"""Writes the seed corpus of fuzz-request.c (tests/fuzz/corpus/request/): the StartRun requests of
the integration tests and of the transcripts' runs, valid and invalid, encoded in the target's input
format (see the comment at the top of fuzz-request.c). Run it after changing either; the files are
committed, so that the corpus replay test sees them.

    /usr/bin/python3 tests/fuzz/gen-request-corpus.py
"""

import os
import struct
import sys

# The same order as keys[] and types[] in fuzz-request.c.
KEYS = ["model", "backend", "system_prompt", "system_prompt_id", "user_prompt", "conversation_context",
        "injections", "temperature", "max_tokens", "seed", "num_ctx", "include_thinking", "measure",
        "benchmark", "region", "label",
        "text", "flag", "count", "offset", "since", "ratio",
        "colour", ""]
TYPES = ["s", "b", "u", "x", "t", "d", "i", "a(ss)", "as", "a{sv}", "v", "ay"]
LONG_STRING = 64 * 1024


def string(s):
    if isinstance(s, tuple):  # ("long", n_units, char): n_units × 64 KiB of char
        _, units, char = s
        return bytes([0xEF + units, ord(char)])
    data = s.encode("utf-8")
    assert len(data) < 0xF0, "use a long string"
    return bytes([len(data)]) + data


def value(vtype, v):
    if vtype == "s":
        return string(v)
    if vtype == "b":
        return bytes([1 if v else 0])
    if vtype in ("u", "i"):
        return struct.pack("<I" if vtype == "u" else "<i", v)
    if vtype in ("x", "t"):
        return struct.pack("<q" if vtype == "x" else "<Q", v)
    if vtype == "d":
        return struct.pack("<d", v)
    if vtype == "ay":
        return bytes([len(v)]) + bytes(v)
    if vtype == "as":
        return bytes([len(v)]) + b"".join(string(x) for x in v)
    if vtype == "a(ss)":
        return bytes([len(v)]) + b"".join(string(a) + string(b) for a, b in v)
    if vtype == "a{sv}":
        key, text = v
        return string(key) + string(text)
    if vtype == "v":
        return string(v)
    raise ValueError(vtype)


def entry(key, vtype, v):
    if key in KEYS:
        head = bytes([KEYS.index(key), TYPES.index(vtype)])
    else:
        head = bytes([len(KEYS), TYPES.index(vtype)]) + string(key)
    return head + value(vtype, v)


def program(entries, mode=0):
    return bytes([mode]) + b"".join(entry(*e) for e in entries)


BASE = [("model", "s", "qwen3:0.6b"), ("user_prompt", "s", "hi")]

CORPUS = {
    # accepted
    "minimal": BASE,
    "full": BASE + [
        ("backend", "s", "ollama"), ("system_prompt", "s", "You are concise."),
        ("conversation_context", "s", "Earlier: we talked about energy."),
        ("injections", "a(ss)", [("doc", "RAPL counts microjoules."), ("note", "Be brief.")]),
        ("temperature", "d", 0.7), ("max_tokens", "u", 64), ("seed", "x", -42), ("num_ctx", "u", 4096),
        ("include_thinking", "b", True), ("measure", "s", "estimate"), ("benchmark", "s", "aes:meta-llama-3.1-8b"),
        ("region", "s", "de"), ("label", "s", "seed corpus")],
    "preset": BASE + [("system_prompt_id", "s", "concise"), ("measure", "s", "live")],
    "transcript-T1": [("model", "s", "qwen3:0.6b"), ("user_prompt", "s", "Why is the sky blue? One sentence."),
                      ("max_tokens", "u", 32), ("temperature", "d", 0.0), ("seed", "x", 1)],
    "transcript-T3": [("model", "s", "gpt-oss:20b"), ("backend", "s", "llama"),
                      ("user_prompt", "s", "Count to three."), ("include_thinking", "b", True)],
    "unicode": BASE[:1] + [("user_prompt", "s", "Grüße, 世界! ✓"), ("label", "s", "ünïcödé")],
    "limits-ok": BASE[:1] + [("user_prompt", "s", ("long", 4, "p")),
                             ("injections", "a(ss)", [("d%d" % i, "c") for i in range(32)]),
                             ("max_tokens", "u", 32768), ("num_ctx", "u", 1 << 20), ("temperature", "d", 2.0)],
    # refused by bus_read_request()
    "unknown-key": BASE + [("colour", "s", "red")],
    "custom-key": BASE + [("Model", "s", "x")],
    "empty-key": BASE + [("", "s", "x")],
    "wrong-type": BASE + [("temperature", "s", "hot")],
    "wrong-type-injections": BASE + [("injections", "as", ["x"])],
    "nested-variant": BASE + [("label", "v", "x")],
    "dict-value": BASE + [("label", "a{sv}", ("model", "x"))],
    "bytes-value": BASE + [("label", "ay", [104, 105])],
    "duplicate": BASE + [("model", "s", "other")],
    "duplicate-injections": BASE + [("injections", "a(ss)", [("a", "b")]), ("injections", "a(ss)", [("c", "d")])],
    "max-tokens-zero": BASE + [("max_tokens", "u", 0)],
    "num-ctx-zero": BASE + [("num_ctx", "u", 0)],
    "measure-bad": BASE + [("measure", "s", "sometimes")],
    "too-many-injections": BASE + [("injections", "a(ss)", [("d%d" % i, "c") for i in range(33)])],
    # refused by lab_request_validate()
    "no-model": [("user_prompt", "s", "hi")],
    "no-prompt": [("model", "s", "m")],
    "empty-prompt": [("model", "s", "m"), ("user_prompt", "s", "")],
    "exclusive": BASE + [("system_prompt", "s", "a"), ("system_prompt_id", "s", "concise")],
    "temperature-nan": BASE + [("temperature", "d", float("nan"))],
    "temperature-inf": BASE + [("temperature", "d", float("inf"))],
    "temperature-high": BASE + [("temperature", "d", 2.5)],
    "temperature-negative": BASE + [("temperature", "d", -0.1)],
    "max-tokens-high": BASE + [("max_tokens", "u", 32769)],
    "num-ctx-high": BASE + [("num_ctx", "u", (1 << 20) + 1)],
    "model-control": [("model", "s", "qwen\n3"), ("user_prompt", "s", "hi")],
    "model-long": [("model", "s", ("long", 1, "m")), ("user_prompt", "s", "hi")],
    "backend-long": BASE + [("backend", "s", ("long", 1, "b"))],
    "label-long": BASE + [("label", "s", ("long", 1, "l"))],
    "prompt-long": [("model", "s", "m"), ("user_prompt", "s", ("long", 5, "x"))],
    "total-long": [("model", "s", "m"), ("user_prompt", "s", ("long", 4, "x")),
                   ("system_prompt", "s", ("long", 4, "y")), ("conversation_context", "s", ("long", 4, "z")),
                   ("injections", "a(ss)", [("a", ("long", 1, "w"))] * 5)],
    "injection-long": BASE + [("injections", "a(ss)", [("big", ("long", 2, "y"))])],
    "injection-description-long": BASE + [("injections", "a(ss)", [("d" * 30, "c"), (("long", 1, "d"), "c")])],
    "region-empty": BASE + [("region", "s", "")],
    # bus_read_dict() with a field of every type (mode 1)
    "dict-all": ("dict", [("text", "s", "x"), ("flag", "b", True), ("count", "u", 7), ("offset", "x", -1),
                          ("since", "t", 1 << 63), ("ratio", "d", 0.5)]),
    "dict-wrong-type": ("dict", [("count", "t", 7)]),
    "dict-duplicate": ("dict", [("text", "s", "a"), ("text", "s", "b")]),
    "dict-unknown": ("dict", [("text", "s", "a"), ("model", "s", "m")]),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "request")
    os.makedirs(out, exist_ok=True)
    for name, spec in CORPUS.items():
        mode, entries = (1, spec[1]) if isinstance(spec, tuple) and spec[0] == "dict" else (0, spec)
        with open(os.path.join(out, name), "wb") as f:
            f.write(program(entries, mode))
    print("wrote %d inputs to %s" % (len(CORPUS), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
