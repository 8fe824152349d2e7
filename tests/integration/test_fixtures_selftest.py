#!/usr/bin/python3
"""Self-tests of the test fixtures: the fake inference server, the power simulator and the
integration harness (driven by a stub daemon). None of them needs llmlabd."""

import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402  (puts tests/fixtures on sys.path)
from labtest import LabTestCase, lab_options  # noqa: E402

import transcripts  # noqa: E402
from fake_llm_server import FakeLLMServer, FakeModel, Script, count_prompt_tokens  # noqa: E402
from powersim import PowerSim  # noqa: E402

FIXTURES = labtest.FIXTURES_DIR
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
MESSAGES = [{"role": "user", "content": "What is 17 × 23?"}]


# ---------------------------------------------------------------------------------- raw HTTP


class RawResponse:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.chunks = []  # [(bytes, monotonic ns when complete)]
        self.complete = False  # the terminating chunk arrived
        self.body = b""
        self.head_ns = None

    @property
    def data(self):
        return self.body if self.body else b"".join(c for c, _ in self.chunks)

    def lines(self, sep=b"\n"):
        return [line for line in self.data.split(sep) if line]


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def raw_request(port, method, path, body=None, timeout=10.0, on_chunk=None):
    """One request on a fresh connection; parses the chunked framing itself, so that every
    server write is seen as one chunk with its arrival time."""
    payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (method, path, len(payload))).encode()
    resp = RawResponse()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + payload)
        r = _Reader(sock)
        try:
            resp.status = int(r.line().split()[1])
            resp.head_ns = time.monotonic_ns()
            while True:
                line = r.line()
                if not line:
                    break
                k, v = line.decode().split(":", 1)
                resp.headers[k.strip().lower()] = v.strip()
            if resp.headers.get("transfer-encoding") == "chunked":
                while True:
                    size = int(r.line(), 16)
                    if size == 0:
                        r.line()
                        resp.complete = True
                        break
                    data = r.exact(size)
                    r.exact(2)
                    resp.chunks.append((data, time.monotonic_ns()))
                    if on_chunk is not None and on_chunk(resp, sock):
                        return resp
            else:
                resp.body = r.exact(int(resp.headers.get("content-length", "0")))
                resp.complete = True
        except EOFError:
            pass
    return resp


def http_json(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, None if body is None else json.dumps(body))
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def ndjson_result(data):
    """(thinking, content, final object) of an Ollama NDJSON body."""
    thinking = content = ""
    final = None
    for line in data.splitlines():
        obj = json.loads(line)
        msg = obj.get("message", {})
        thinking += msg.get("thinking", "")
        content += msg.get("content", "")
        if obj.get("done"):
            final = obj
    return thinking, content, final


def sse_events(data):
    """Data payloads of an SSE body (LF framing)."""
    out = []
    for event in data.decode().split("\n\n"):
        payload = [line[5:].lstrip(" ") for line in event.split("\n") if line.startswith("data:")]
        if payload:
            out.append("\n".join(payload))
    return out


# ---------------------------------------------------------------------------------- fake server


class FakeServerTest(unittest.TestCase):
    def setUp(self):
        self.srv = FakeLLMServer()
        self.srv.start()
        self.addCleanup(self.srv.stop)

    def chat(self, script, body=None, path="/api/chat", **kw):
        self.srv.scenario = script
        req = {"model": "qwen3:0.6b", "messages": MESSAGES}
        req.update(body or {})
        return raw_request(self.srv.port, "POST", path, req, **kw)

    def test_replay_t1_byte_exact(self):
        self.srv.scenario = Script.replay("T1")
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        conn.request("POST", "/api/chat", json.dumps({"model": "qwen3:0.6b", "messages": MESSAGES}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/x-ndjson")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        body = r.read()
        conn.close()
        expected = b"".join(transcripts.TRANSCRIPTS["T1"].writes)
        self.assertEqual(body, expected)
        self.assertEqual(len(body.splitlines()), 6)
        thinking, content, final = ndjson_result(body)
        self.assertEqual(thinking, "Okay, the user asks for 17 × 23. 17 × 20 = 340, 17 × 3 = 51, so 391.\n")
        self.assertEqual(content, "17 × 23 = **391**.")
        self.assertEqual(final["eval_count"], 64)
        # One HTTP chunk per NDJSON line (each write flushed on its own).
        raw = self.chat(Script.replay("T1"))
        self.assertEqual([c for c, _ in raw.chunks], transcripts.TRANSCRIPTS["T1"].writes)
        self.assertTrue(raw.complete)

    def test_replay_every_transcript(self):
        for name in sorted(transcripts.TRANSCRIPTS):
            with self.subTest(transcript=name):
                t = transcripts.TRANSCRIPTS[name]
                raw = self.chat(Script.replay(name))
                self.assertEqual(raw.status, t.status)
                self.assertEqual(raw.headers["content-type"], t.content_type)
                expected = b"".join(w for w in t.writes if isinstance(w, bytes))
                self.assertEqual(raw.data, expected)
                self.assertEqual(raw.complete, t.ending in ("chunked", "fixed"))

    def test_replay_silence_variants(self):
        raw = self.chat(Script.replay("T6j", silence_s=0.3))
        self.assertTrue(raw.complete)
        self.assertEqual(raw.data, b"".join(transcripts.TRANSCRIPTS["T1"].writes))
        arrival = self.srv.requests[-1].arrival_ns
        self.assertGreaterEqual(raw.head_ns - arrival, 0.3e9, "Ollama sends no header while silent")
        raw = self.chat(Script.replay("T6j-sse", silence_s=2.0))
        self.assertTrue(raw.complete)
        self.assertEqual([c for c, _ in raw.chunks[:2]], [b":\n\n", b":\n\n"])
        self.assertLess(raw.head_ns - self.srv.requests[-1].arrival_ns, 0.5e9, "headers before the pings")
        self.assertEqual(sse_events(raw.data)[-1], "[DONE]")

    def test_thinking_and_answer(self):
        script = Script(thinking_tokens=["Let", " me", " see"], tokens=["17 × 23", " = ", "391"])
        raw = self.chat(script, {"think": True})
        self.assertEqual(raw.status, 200)
        thinking, content, final = ndjson_result(raw.data)
        self.assertEqual(thinking, "Let me see")
        self.assertEqual(content, "17 × 23 = 391")
        self.assertEqual(final["done_reason"], "stop")
        self.assertEqual(final["eval_count"], 6)
        self.assertEqual(final["prompt_eval_count"], count_prompt_tokens(MESSAGES))
        self.assertEqual(final["prompt_eval_count"], 1 + 2 + 3 + 6)  # BOS, gen. prompt, message of 6 tokens
        # think:false drops the reasoning and its tokens.
        raw = self.chat(script, {"think": False})
        thinking, content, final = ndjson_result(raw.data)
        self.assertEqual((thinking, content, final["eval_count"]), ("", "17 × 23 = 391", 3))
        # final_text: the last piece travels in the done object.
        raw = self.chat(Script(tokens=["a", "b"], final_text=True))
        lines = raw.lines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(json.loads(lines[-1])["message"]["content"], "b")

    def test_go_escaping_and_omitempty(self):
        raw = self.chat(Script(tokens=["<b>", "&", "\u2028"], omit_timings=True))
        self.assertIn(b'"content":"\\u003cb\\u003e"', raw.data)
        self.assertIn(b'"content":"\\u0026"', raw.data)
        self.assertIn(b'"content":"\\u2028"', raw.data)
        final = json.loads(raw.lines()[-1])
        self.assertNotIn("total_duration", final)
        self.assertNotIn("eval_duration", final)
        self.assertEqual(final["eval_count"], 3)
        raw = self.chat(Script(tokens=0, done_reason=""))
        final = json.loads(raw.lines()[-1])
        self.assertNotIn("eval_count", final)  # omitempty: zero metrics are absent
        self.assertNotIn("done_reason", final)

    def test_midstream_error(self):
        raw = self.chat(Script(tokens=5, error_after=2))
        self.assertEqual(raw.status, 200)
        lines = raw.lines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(json.loads(lines[-1]), {"error": "an error was encountered while running the model"})
        self.assertTrue(raw.complete)
        self.assertEqual(self.srv.wait_chats(1)[0].outcome, "error")
        raw = self.chat(Script(tokens=5, error_after=1), {"stream": True}, path="/v1/chat/completions")
        events = sse_events(raw.data)
        self.assertEqual(json.loads(events[-1])["error"]["message"], "Failed to decode the batch")
        self.assertNotIn("[DONE]", events)
        raw = self.chat(Script(tokens=5, error_after=1, sse_flavor="vllm"), {"stream": True},
                        path="/v1/chat/completions")
        events = sse_events(raw.data)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(json.loads(events[-2])["error"]["type"], "InternalServerError")

    def test_truncation(self):
        raw = self.chat(Script(tokens=5, truncate_after=2))
        self.assertFalse(raw.complete)
        self.assertEqual(len(raw.lines()), 2)
        self.assertTrue(all(not json.loads(line)["done"] for line in raw.lines()))
        self.assertEqual(self.srv.wait_chats(1)[0].outcome, "truncated")
        raw = self.chat(Script(tokens=5, truncate_after=3), {"stream": True}, path="/v1/chat/completions")
        self.assertFalse(raw.complete)
        self.assertNotIn("[DONE]", sse_events(raw.data))

    def test_stall(self):
        raw = self.chat(Script(tokens=3, stall_after=(1, 0.4)))
        self.assertTrue(raw.complete)
        times = [t for _, t in raw.chunks]
        self.assertGreaterEqual(times[1] - times[0], 0.4e9)
        self.assertLess(times[2] - times[1], 0.2e9)

    def test_split_writes_cut_utf8(self):
        raw = self.chat(Script(tokens=["17 × 23"], split_writes=True, split_pause_ms=20))
        pieces = [c for c, _ in raw.chunks]
        first_line_writes = []
        acc = b""
        for p in pieces:
            first_line_writes.append(p)
            acc += p
            if acc.endswith(b"\n"):
                break
        self.assertEqual(len(first_line_writes), 3)
        self.assertTrue(any(p.endswith(b"\xc3") for p in first_line_writes), first_line_writes)
        self.assertGreaterEqual(raw.chunks[1][1] - raw.chunks[0][1], 15e6)
        thinking, content, _ = ndjson_result(raw.data)
        self.assertEqual(content, "17 × 23")
        raw = self.chat(Script.replay("T6a"))
        writes = [c for c, _ in raw.chunks]
        self.assertTrue(writes[2].endswith(b"\xc3") and writes[3].startswith(b"\x97"))

    def test_crlf_and_lone_cr(self):
        raw = self.chat(Script(tokens=2, crlf=True))
        self.assertTrue(all(c.endswith(b"\r\n") for c, _ in raw.chunks))
        self.assertEqual(len(raw.data.split(b"\r\n")), 4)
        raw = self.chat(Script(tokens=2, crlf=True), {"stream": True}, path="/v1/chat/completions")
        self.assertTrue(raw.data.endswith(b"data: [DONE]\r\n\r\n"))
        self.assertNotIn(b"\n\n", raw.data)
        raw = self.chat(Script(tokens=2, lone_cr=True, split_pause_ms=5), {"stream": True},
                        path="/v1/chat/completions")
        self.assertNotIn(b"\n", raw.data)
        self.assertTrue(raw.data.endswith(b"data: [DONE]\r\r"))
        self.assertIn(b"\r", [c for c, _ in raw.chunks])  # the second CR comes in its own write

    def test_huge_final_line(self):
        raw = self.chat(Script(tokens=2, huge_line_bytes=4_000_000))
        last = raw.lines()[-1]
        self.assertGreaterEqual(len(last), 4_000_000)
        final = json.loads(last)
        self.assertTrue(final["done"])
        self.assertGreater(len(final["context"]), 500_000)
        raw = self.chat(Script(tokens=2, huge_line_bytes=4_000_000), {"stream": True},
                        path="/v1/chat/completions")
        events = sse_events(raw.data)
        self.assertGreaterEqual(len(events[-2]), 4_000_000)
        self.assertEqual(events[-1], "[DONE]")

    def test_404_and_405_plain_text(self):
        status, ctype, body = http_json(self.srv.port, "GET", "/api/nope")
        self.assertEqual((status, ctype, body), (404, "text/plain", b"404 page not found"))
        status, ctype, body = http_json(self.srv.port, "GET", "/api/chat")
        self.assertEqual((status, ctype, body), (405, "text/plain", b"405 method not allowed"))

    def test_request_errors(self):
        port = self.srv.port
        self.assertEqual(http_json(port, "POST", "/api/chat", {"model": "llama9", "messages": MESSAGES}),
                         (404, "application/json; charset=utf-8", b'{"error":"model \'llama9\' not found"}'))
        self.assertEqual(
            http_json(port, "POST", "/api/chat", {"model": "llama3.2", "think": True, "messages": MESSAGES}),
            (400, "application/json; charset=utf-8", b'{"error":"\\"llama3.2\\" does not support thinking"}'))
        status, _, body = http_json(port, "POST", "/api/chat", {"model": "qwen3:0.6b", "think": "extreme",
                                                                "messages": MESSAGES})
        self.assertEqual(body, b"".join(transcripts.TRANSCRIPTS["T2c"].writes))
        self.assertEqual(status, 400)
        status, _, body = http_json(port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES,
                                                                "options": {"num_ctx": "4096"}})
        self.assertEqual((status, body), (500, b'{"error":"option \\"num_ctx\\" must be of type integer"}'))
        self.assertEqual(self.srv.chats, [], "rejected requests are not chats")
        self.srv.scenario = Script(http_error=(503, '{"error":"server busy, please try again.  maximum pending '
                                                    'requests exceeded"}'))
        status, _, body = http_json(port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES})
        self.assertEqual((status, body), (503, b"".join(transcripts.TRANSCRIPTS["T2d"].writes)))
        status, _, body = http_json(port, "POST", "/api/chat", {"model": "llama3.2", "messages": []})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["done_reason"], "load")

    def test_real_durations_and_phases(self):
        raw = self.chat(Script(tokens=5, load_ms=60, prefill_ms=40, token_interval_ms=20))
        final = json.loads(raw.lines()[-1])
        chat = self.srv.wait_chats(1)[0]
        phases = {name: (a, b) for name, a, b in chat.phases}
        self.assertEqual(list(phases), ["load", "prefill", "decode", "final"])
        self.assertEqual(phases["load"][0], chat.request.arrival_ns)
        self.assertEqual(final["load_duration"], phases["load"][1] - phases["load"][0])
        self.assertEqual(final["prompt_eval_duration"], phases["prefill"][1] - phases["prefill"][0])
        self.assertEqual(final["eval_duration"], phases["decode"][1] - phases["decode"][0])
        self.assertEqual(final["total_duration"], phases["final"][0] - chat.request.arrival_ns)
        self.assertGreaterEqual(final["load_duration"], 60e6)
        self.assertLess(final["load_duration"], 90e6)
        self.assertGreaterEqual(final["prompt_eval_duration"], 40e6)
        self.assertGreaterEqual(final["eval_duration"], 80e6)
        self.assertEqual(phases["load"][1], phases["prefill"][0])
        self.assertEqual(phases["prefill"][1], phases["decode"][0])
        self.assertEqual(chat.metrics, {k: final[k] for k in chat.metrics})
        # The first line (and the headers with it) leaves at the end of prefill.
        self.assertGreaterEqual(raw.head_ns, phases["decode"][0])
        # llama.cpp timings are the same measured intervals, in ms.
        raw = self.chat(Script(tokens=3, load_ms=30, prefill_ms=20, token_interval_ms=10),
                        {"stream": True, "stream_options": {"include_usage": True}}, path="/v1/chat/completions")
        usage = json.loads(sse_events(raw.data)[-2])
        chat = self.srv.wait_chats(2)[1]
        phases = {name: (a, b) for name, a, b in chat.phases}
        self.assertEqual(usage["choices"], [])
        self.assertAlmostEqual(usage["timings"]["prompt_ms"], (phases["prefill"][1] - phases["prefill"][0]) / 1e6)
        self.assertAlmostEqual(usage["timings"]["predicted_ms"], (phases["decode"][1] - phases["decode"][0]) / 1e6)
        self.assertEqual(usage["usage"]["completion_tokens"], 3)

    def test_openai_stream_shapes(self):
        script = Script(thinking_tokens=["hm"], tokens=["Hi", " there"], cached_tokens=2)
        raw = self.chat(script, {"stream": True, "stream_options": {"include_usage": True}},
                        path="/v1/chat/completions")
        self.assertEqual(raw.headers["content-type"], "text/event-stream")
        events = sse_events(raw.data)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": None})
        self.assertEqual(chunks[1]["choices"][0]["delta"], {"reasoning_content": "hm"})
        self.assertEqual(chunks[2]["choices"][0]["delta"], {"content": "Hi"})
        self.assertEqual(chunks[4]["choices"][0]["finish_reason"], "stop")
        usage = chunks[5]
        prompt = count_prompt_tokens(MESSAGES)
        self.assertEqual(usage["usage"], {"completion_tokens": 3, "prompt_tokens": prompt,
                                          "total_tokens": prompt + 3, "prompt_tokens_details": {"cached_tokens": 2}})
        self.assertEqual((usage["timings"]["cache_n"], usage["timings"]["prompt_n"]), (2, prompt - 2))
        # Without include_usage, llama.cpp puts usage and timings on the finish chunk.
        raw = self.chat(script, {"stream": True}, path="/v1/chat/completions")
        finish = json.loads(sse_events(raw.data)[-2])
        self.assertEqual(finish["choices"][0]["finish_reason"], "stop")
        self.assertIn("timings", finish)
        # vLLM flavour: "reasoning", headers at once, no timings; thinking off via chat_template_kwargs.
        vllm = Script(thinking_tokens=["hm"], tokens=["Hi"], sse_flavor="vllm", load_ms=200)
        raw = self.chat(vllm, {"stream": True}, path="/v1/chat/completions")
        self.assertEqual(raw.headers["content-type"], "text/event-stream; charset=utf-8")
        self.assertLess(raw.head_ns - self.srv.requests[-1].arrival_ns, 150e6)
        chunks = [json.loads(e) for e in sse_events(raw.data)[:-1]]
        self.assertEqual(chunks[1]["choices"][0]["delta"], {"reasoning": "hm"})
        self.assertNotIn("timings", json.dumps(chunks))
        raw = self.chat(vllm, {"stream": True, "chat_template_kwargs": {"enable_thinking": False}},
                        path="/v1/chat/completions")
        self.assertNotIn("reasoning", raw.data.decode())
        body = b"".join(transcripts.TRANSCRIPTS["T5f-new"].writes)
        raw = self.chat(Script(sse_flavor="vllm", http_error=(404, body, "application/json")), {"stream": True},
                        path="/v1/chat/completions")
        self.assertEqual((raw.status, raw.headers["content-type"], raw.data), (404, "application/json", body))
        # Pings during load.
        raw = self.chat(Script(tokens=1, load_ms=250, sse_ping_ms=50), {"stream": True}, path="/v1/chat/completions")
        pings = [c for c, _ in raw.chunks if c == b": ping\n\n"]
        self.assertGreaterEqual(len(pings), 3)
        self.assertEqual(raw.chunks[0][0], b": ping\n\n")
        # max_tokens cuts the pieces: finish_reason length.
        raw = self.chat(Script(tokens=10), {"stream": True, "max_tokens": 4}, path="/v1/chat/completions")
        finish = json.loads(sse_events(raw.data)[-2])
        self.assertEqual((finish["choices"][0]["finish_reason"], finish["usage"]["completion_tokens"]), ("length", 4))

    def test_non_stream(self):
        status, ctype, body = http_json(self.srv.port, "POST", "/api/chat",
                                        {"model": "qwen3:0.6b", "stream": False, "messages": MESSAGES,
                                         "options": {"num_predict": 3}})
        obj = json.loads(body)
        self.assertEqual((status, ctype), (200, "application/json; charset=utf-8"))
        self.assertEqual(obj["message"]["content"], "The quick brown")
        self.assertEqual((obj["done"], obj["done_reason"], obj["eval_count"]), (True, "length", 3))
        status, _, body = http_json(self.srv.port, "POST", "/v1/chat/completions",
                                    {"model": "qwen3:0.6b", "messages": MESSAGES})
        obj = json.loads(body)
        self.assertEqual(obj["object"], "chat.completion")
        self.assertEqual(obj["choices"][0]["message"]["content"], "The quick brown fox jumps over the lazy")

    def test_tokenizer_consistency(self):
        port = self.srv.port
        _, _, body = http_json(port, "POST", "/apply-template", {"messages": MESSAGES})
        prompt = json.loads(body)["prompt"]
        self.assertEqual(prompt, "<|im_start|>user\nWhat is 17 × 23?<|im_end|>\n<|im_start|>assistant\n")
        _, _, body = http_json(port, "POST", "/tokenize", {"content": prompt, "add_special": True})
        self.assertEqual(len(json.loads(body)["tokens"]), count_prompt_tokens(MESSAGES))
        _, _, body = http_json(port, "POST", "/tokenize", {"content": "Hello, world!", "with_pieces": True})
        self.assertEqual([t["piece"] for t in json.loads(body)["tokens"]], ["Hello", ",", "world", "!"])
        _, _, body = http_json(port, "POST", "/tokenize", {"content": "Hello, world!", "add_special": True})
        self.assertEqual(json.loads(body)["tokens"][0], 1)
        _, _, body = http_json(port, "POST", "/tokenize", {"model": "m", "messages": MESSAGES,
                                                           "add_special_tokens": True})
        self.assertEqual(json.loads(body)["count"], count_prompt_tokens(MESSAGES))

    def test_cancel_is_detected(self):
        def close_after_two(resp, sock):
            return len(resp.chunks) >= 2

        self.chat(Script(tokens=50, token_interval_ms=20), on_chunk=close_after_two)
        closed = time.monotonic_ns()
        self.srv.wait_cancelled(1, timeout=5)
        chat = self.srv.wait_chats(1)[0]
        self.assertEqual(chat.outcome, "cancelled")
        self.assertLess(chat.cancel_ns - closed, 200e6)
        # Detected while the server is silent too (load), not only on the next write.
        self.srv.scenario = Script(load_ms=10_000)
        with socket.create_connection(("127.0.0.1", self.srv.port)) as s:
            body = json.dumps({"model": "qwen3:0.6b", "messages": MESSAGES}).encode()
            s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            self.srv.wait_requests(2)
        closed = time.monotonic_ns()
        self.srv.wait_cancelled(2, timeout=5)
        chat = self.srv.wait_chats(2)[1]
        self.assertLess(chat.cancel_ns - closed, 200e6)
        self.assertEqual([p[0] for p in chat.phases], ["load"])

    def test_scenarios(self):
        seen = []
        self.srv.scenario = lambda req: seen.append(req["model"]) or Script(tokens=[req["model"]])
        raw = raw_request(self.srv.port, "POST", "/api/chat", {"model": "gemma3:270m", "messages": MESSAGES})
        self.assertEqual(ndjson_result(raw.data)[1], "gemma3:270m")
        self.assertEqual(seen, ["gemma3:270m"])
        self.srv.scenario = [Script(tokens=["one"]), Script(tokens=["two"])]
        results = [ndjson_result(raw_request(self.srv.port, "POST", "/api/chat",
                                             {"model": "qwen3:0.6b", "messages": MESSAGES}).data)[1]
                   for _ in range(3)]
        self.assertEqual(results, ["one", "two", "The quick brown fox jumps over the lazy"])
        self.srv.push(Script(tokens=["three"]))
        raw = raw_request(self.srv.port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES})
        self.assertEqual(ndjson_result(raw.data)[1], "three")

    def test_metadata_endpoints(self):
        port = self.srv.port
        self.assertEqual(http_json(port, "GET", "/"), (200, "text/plain; charset=utf-8", b"Ollama is running"))
        self.assertEqual(json.loads(http_json(port, "GET", "/api/version")[2]), {"version": "0.12.6"})
        tags = json.loads(http_json(port, "GET", "/api/tags")[2])
        self.assertEqual([m["name"] for m in tags["models"]], ["qwen3:0.6b", "llama3.2:latest", "gemma3:270m"])
        self.assertEqual(tags["models"][0]["details"]["parameter_size"], "751.63M")
        for key in ("model", "name"):
            status, _, body = http_json(port, "POST", "/api/show", {key: "qwen3:0.6b"})
            show = json.loads(body)
            self.assertEqual(status, 200)
            self.assertEqual(show["model_info"]["general.architecture"], "qwen3")
            self.assertEqual(show["model_info"]["qwen3.context_length"], 40960)
            self.assertIn("thinking", show["capabilities"])
        show = json.loads(http_json(port, "POST", "/api/show", {"model": "llama3.2"})[2])
        self.assertNotIn("thinking", show["capabilities"])
        self.assertEqual(http_json(port, "POST", "/api/show", {"model": "nope"})[0], 404)
        self.assertEqual(json.loads(http_json(port, "GET", "/api/ps")[2]), {"models": []})
        raw_request(port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES,
                                                "options": {"num_ctx": 8192}})
        ps = json.loads(http_json(port, "GET", "/api/ps")[2])
        self.assertEqual([(m["name"], m["context_length"]) for m in ps["models"]], [("qwen3:0.6b", 8192)])
        models = json.loads(http_json(port, "GET", "/v1/models")[2])
        self.assertEqual(models["data"][0]["meta"]["n_ctx_train"], 40960)
        self.assertEqual(http_json(port, "GET", "/health")[:1], (200,))
        self.srv.loading = True
        self.assertEqual(http_json(port, "GET", "/health")[2], b"".join(transcripts.TRANSCRIPTS["T5b"].writes))
        props = json.loads(http_json(port, "GET", "/props")[2])
        self.assertEqual(props["default_generation_settings"]["n_ctx"], 4096)

    def test_custom_models(self):
        srv = FakeLLMServer(models=[FakeModel("tiny", family="llama", context_length=512)])
        with srv:
            tags = json.loads(http_json(srv.port, "GET", "/api/tags")[2])
            self.assertEqual([m["name"] for m in tags["models"]], ["tiny:latest"])
            raw = raw_request(srv.port, "POST", "/api/chat", {"model": "tiny", "messages": MESSAGES})
            self.assertEqual(raw.status, 200)

    def test_command_line(self):
        proc = subprocess.Popen([PYTHON, os.path.join(FIXTURES, "fake_llm_server.py"), "--port", "0",
                                 "--print-port", "--fast", "500"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        port = int(proc.stdout.readline())
        raw = raw_request(port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES})
        self.assertEqual(len(raw.lines()), 501)
        self.assertEqual(json.loads(raw.lines()[-1])["eval_count"], 500)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        proc.stdout.close()

    def test_stop_ends_responses_in_progress(self):
        srv = FakeLLMServer(scenario=Script(stall_after=(1, 30)))
        srv.start()
        box = {}
        t = threading.Thread(target=lambda: box.update(r=raw_request(srv.port, "POST", "/api/chat",
                                                                       {"model": "qwen3:0.6b", "messages": MESSAGES})))
        t.start()
        srv.wait_requests(1)
        started = time.monotonic()
        srv.stop()
        t.join(5)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertFalse(box["r"].complete)


# ---------------------------------------------------------------------------------- power simulator


def read_uj(path):
    with open(path, "rb") as f:
        return int(f.readline())


class PowerSimTest(unittest.TestCase):
    def sim(self, **kwargs):
        sim = PowerSim(**kwargs)
        sim.start()
        self.addCleanup(sim.stop)
        return sim

    def test_tree_looks_like_sysfs(self):
        sim = self.sim(layout="intel-2s")
        pc = sim.powercap
        entries = sorted(os.listdir(pc))
        self.assertEqual(entries, ["intel-rapl", "intel-rapl-mmio", "intel-rapl-mmio:0", "intel-rapl:0",
                                   "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2", "intel-rapl:1",
                                   "intel-rapl:1:0", "intel-rapl:1:1", "intel-rapl:2"])
        self.assertTrue(all(os.path.islink(os.path.join(pc, e)) for e in entries))
        names = {}
        for e in entries:
            if ":" in e:
                with open(os.path.join(pc, e, "name")) as f:
                    names[e] = f.read()
        self.assertEqual(names, {"intel-rapl:0": "package-0\n", "intel-rapl:0:0": "core\n",
                                 "intel-rapl:0:1": "uncore\n", "intel-rapl:0:2": "dram\n",
                                 "intel-rapl:1": "package-1\n", "intel-rapl:1:0": "core\n",
                                 "intel-rapl:1:1": "dram\n", "intel-rapl:2": "psys\n",
                                 "intel-rapl-mmio:0": "package-0\n"})
        # Nested zones live inside their parent, and the class link points there.
        self.assertEqual(os.path.realpath(os.path.join(pc, "intel-rapl:0:2")),
                         os.path.realpath(os.path.join(pc, "intel-rapl:0", "intel-rapl:0:2")))
        self.assertTrue(os.path.isdir(os.path.join(pc, "intel-rapl:0", "intel-rapl:0:0")))
        self.assertFalse(os.path.exists(os.path.join(pc, "intel-rapl", "name")))
        e = os.path.join(pc, "intel-rapl:0", "energy_uj")
        self.assertEqual(stat.S_IMODE(os.stat(e).st_mode), 0o400)
        with open(os.path.join(pc, "intel-rapl:0", "max_energy_range_uj")) as f:
            self.assertEqual(f.read(), "262143328850\n")
        with open(os.path.join(pc, "intel-rapl:0:2", "max_energy_range_uj")) as f:
            self.assertEqual(f.read(), "65532610987\n")
        with open(os.path.join(pc, "intel-rapl:0", "enabled")) as f:
            self.assertEqual(f.read(), "1\n")
        with open(os.path.join(pc, "intel-rapl:0", "energy_uj"), "rb") as f:
            self.assertRegex(f.read(), rb"^[0-9]+\n$")
        # The mmio zone duplicates package-0: the same value, written in the same pass.
        for _ in range(20):
            a = read_uj(os.path.join(pc, "intel-rapl:0", "energy_uj"))
            m = read_uj(os.path.join(pc, "intel-rapl-mmio:0", "energy_uj"))
            b = read_uj(os.path.join(pc, "intel-rapl:0", "energy_uj"))
            self.assertTrue(a <= m <= b, (a, m, b))
        self.assertEqual(sim.read_counter("intel-rapl-mmio:0") // 10**6, sim.read_counter("package-0") // 10**6)

    def test_other_layouts(self):
        amd = self.sim(layout="amd")
        self.assertEqual(sorted(os.listdir(amd.powercap)), ["intel-rapl", "intel-rapl:0", "intel-rapl:0:0"])
        with open(os.path.join(amd.powercap, "intel-rapl:0", "max_energy_range_uj")) as f:
            self.assertEqual(f.read(), "65532610987\n")
        client = self.sim(layout="intel-client")
        self.assertEqual([z.name for z in client.select("components")], ["package-0"])
        self.assertIn("intel-rapl:1", os.listdir(client.powercap))
        none = self.sim(layout="none")
        self.assertEqual(os.listdir(none.powercap), [])
        absent = self.sim(layout="absent")
        self.assertFalse(os.path.exists(absent.powercap))
        self.assertTrue(os.path.isdir(os.path.join(absent.root, "class")))

    def test_unreadable_counters(self):
        sim = self.sim(unreadable=["intel-rapl:1:1"], unreadable_mode="mode000")
        path = os.path.join(sim.powercap, "intel-rapl:1:1", "energy_uj")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0)
        nobody = subprocess.run([PYTHON, "-c", "open(%r).read()" % path], user=65534, group=65534,
                                extra_groups=[], capture_output=True, text=True) if os.geteuid() == 0 else None
        if nobody is not None:
            self.assertIn("PermissionError", nobody.stderr)
        sim = self.sim(unreadable=["intel-rapl:1:1"], unreadable_mode="eisdir")
        path = os.path.join(sim.powercap, "intel-rapl:1:1", "energy_uj")
        fd = os.open(path, os.O_RDONLY)
        try:
            with self.assertRaises(IsADirectoryError):
                os.read(fd, 64)
        finally:
            os.close(fd)
        sim = self.sim(unreadable=["intel-rapl:1:1"], unreadable_mode="missing")
        self.assertFalse(os.path.exists(os.path.join(sim.powercap, "intel-rapl:1:1", "energy_uj")))
        self.assertTrue(os.path.exists(os.path.join(sim.powercap, "intel-rapl:1:1", "name")))

    def test_counters_wrap(self):
        # Start and end at 0 W, so that the first and the last read are exact; in between
        # package-0 draws 4.4 W against a 1 J range: a wrap every 0.23 s.
        sim = self.sim(max_range_uj=1_000_000, profile={"off": 0.0, "idle": 8.0}, initial_phase="off")
        path = os.path.join(sim.powercap, "intel-rapl:0", "energy_uj")
        values = [read_uj(path)]
        self.assertEqual(values[0], sim.counter_uj("intel-rapl:0"))
        sim.set_phase("idle")
        deadline = time.monotonic() + 10
        while sim.wraps("intel-rapl:0") < 3 and time.monotonic() < deadline:
            values.append(read_uj(path))
            time.sleep(0.01)
        t_off = sim.set_phase("off")
        self.pump_writer(sim, "intel-rapl:0", t_off)
        values.append(read_uj(path))
        self.assertEqual(values[-1], sim.counter_uj("intel-rapl:0"))
        self.assertTrue(all(0 <= v <= 1_000_000 for v in values))
        drops = sum(1 for a, b in zip(values, values[1:]) if b < a)
        self.assertGreaterEqual(sim.wraps("intel-rapl:0"), 3)
        self.assertEqual(drops, sim.wraps("intel-rapl:0"))

    def test_reads_are_not_torn_at_a_wrap(self):
        """Reads parse as llmlabd parses them (digits, then only whitespace) and stay in range, across
        many wraps: a shorter number is not left with the old digits' tail after it (which the old
        writer did at hundreds of reads in a million). What remains is tmpfs itself: a read that
        races a write may copy some old and some new bytes, about one read in a million on a loaded
        machine; the bound below is ten times that and still well below the old writer's rate."""
        sim = self.sim(max_range_uj=20_000, profile={"idle": 8.0}, initial_phase="idle")  # a wrap every ~5 ms
        fd = os.open(os.path.join(sim.powercap, "intel-rapl:0", "energy_uj"), os.O_RDONLY)
        self.addCleanup(os.close, fd)
        deadline, n, bad = time.monotonic() + 1.0, 0, []
        while time.monotonic() < deadline:
            text = os.pread(fd, 64, 0)
            if not re.match(rb"^[0-9]+[ \t\n]*$", text) or int(text) > 20_000:
                bad.append(text)
            n += 1
        self.assertGreater(sim.wraps("intel-rapl:0"), 50)
        sys.stderr.write("%d reads across %d wraps, %d torn\n" % (n, sim.wraps("intel-rapl:0"), len(bad)))
        self.assertLessEqual(len(bad), n / 100_000, bad[:10])

    def pump_writer(self, sim, zone, t_ns, timeout=5.0):
        """Wait until the writer has written the value for instant t_ns (power is 0 after it)."""
        want = sim.counter_uj(zone, t_ns)
        deadline = time.monotonic() + timeout
        while sim.read_counter(zone) != want:
            self.assertLess(time.monotonic(), deadline, "the writer did not catch up")
            time.sleep(0.002)

    def test_energy_between_reads_matches_truth(self):
        sim = self.sim(max_range_uj=2_000_000)
        zones = sim.select("components")
        self.assertEqual([z.id for z in zones], ["intel-rapl:0", "intel-rapl:0:2", "intel-rapl:1", "intel-rapl:1:1"])
        paths = [os.path.join(z.class_path, "energy_uj") for z in zones]
        fds = [os.open(p, os.O_RDONLY) for p in paths]  # kept open, pread at 0, as a daemon would
        self.addCleanup(lambda: [os.close(fd) for fd in fds])

        def read_all():
            return [int(os.pread(fd, 32, 0)) for fd in fds]

        t0 = time.monotonic_ns()
        prev = read_all()
        total_uj = 0
        for phase in ["load", "prefill", "decode", "idle", "decode"]:
            sim.set_phase(phase)
            end = time.monotonic() + 0.25
            while time.monotonic() < end:
                time.sleep(0.01)
                cur = read_all()
                for z, a, b in zip(zones, prev, cur):
                    total_uj += b - a if b >= a else b - a + z.max_range_uj + 1
                prev = cur
        t1 = time.monotonic_ns()
        truth = sim.energy_j(t0, t1)
        self.assertGreater(sim.wraps("package-0"), 5)
        self.assertAlmostEqual(total_uj / 1e6, truth, delta=max(0.01 * truth, 0.001))

    def test_truth_is_the_exact_integral(self):
        sim = self.sim(profile={"idle": 10.0, "busy": 100.0})
        t = sim.set_phase("busy")
        time.sleep(0.05)
        t_idle = sim.set_phase("idle")
        time.sleep(0.02)
        t_end = time.monotonic_ns()
        self.assertAlmostEqual(sim.energy_j(t, t_idle), 100.0 * (t_idle - t) / 1e9, places=9)
        self.assertAlmostEqual(sim.energy_j(t, t_end), 100.0 * (t_idle - t) / 1e9 + 10.0 * (t_end - t_idle) / 1e9,
                               places=9)
        self.assertAlmostEqual(sim.energy_j(t, t_end, "psys"), 1.25 * sim.energy_j(t, t_end), places=9)
        self.assertAlmostEqual(sim.energy_j(t, t_end, "package-1"), 0.25 * sim.energy_j(t, t_end), places=9)
        self.assertAlmostEqual(sim.energy_j(t, t_end, "dram"), 0.20 * sim.energy_j(t, t_end), places=9)
        self.assertAlmostEqual(sim.energy_j(t, t_end, "packages") + sim.energy_j(t, t_end, "dram"),
                               sim.energy_j(t, t_end), places=9)
        self.assertEqual([p for _, p in sim.phase_log], ["idle", "busy", "idle"])
        # An instant earlier than the last change is moved to it (the log stays ordered).
        self.assertEqual(sim.set_phase("busy", t_idle - 1000), t_idle)

    def test_fake_server_drives_phases(self):
        sim = self.sim(max_range_uj=2_000_000)
        srv = FakeLLMServer(power=sim, scenario=Script(tokens=10, load_ms=100, prefill_ms=80, token_interval_ms=15))
        srv.start()
        self.addCleanup(srv.stop)
        zones = sim.select("components")
        samples = []
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                samples.append((time.monotonic_ns(), [sim.read_counter(z) for z in zones]))
                time.sleep(0.005)

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.05)
        raw = raw_request(srv.port, "POST", "/api/chat", {"model": "qwen3:0.6b", "messages": MESSAGES})
        time.sleep(0.05)
        stop.set()
        poller.join()
        self.assertTrue(raw.complete)
        chat = srv.wait_chats(1)[0]
        phases = [(name, a, b) for name, a, b in chat.phases if name != "final"]
        self.assertEqual([p[0] for p in phases], ["load", "prefill", "decode"])
        log = sim.phase_log
        self.assertEqual(log[-4:], [(phases[0][1], "load"), (phases[1][1], "prefill"), (phases[2][1], "decode"),
                                    (phases[2][2], "idle")])
        for name, a, b in phases:
            self.assertAlmostEqual(sim.energy_j(a, b), sim.profile[name] * (b - a) / 1e9, places=9)
        final = json.loads(raw.lines()[-1])
        self.assertEqual(final["load_duration"], phases[0][2] - phases[0][1])
        # The counters polled meanwhile add up to the truth over the same window.
        total = 0
        for (_, prev), (_, cur) in zip(samples, samples[1:]):
            for z, a, b in zip(zones, prev, cur):
                total += b - a if b >= a else b - a + z.max_range_uj + 1
        truth = sim.energy_j(samples[0][0], samples[-1][0])
        self.assertAlmostEqual(total / 1e6, truth, delta=0.02 * truth)

    def test_keep_open_reader_sees_fresh_values(self):
        sim = self.sim(initial_phase="decode")
        fd = os.open(os.path.join(sim.powercap, "intel-rapl:0", "energy_uj"), os.O_RDONLY)
        self.addCleanup(os.close, fd)
        ta = time.monotonic_ns()
        a = int(os.pread(fd, 32, 0))
        time.sleep(0.05)
        tb = time.monotonic_ns()
        b = int(os.pread(fd, 32, 0))
        self.assertGreater(b, a)
        # Within what ~2 ms of staleness at either end can explain (package-0 draws 16.5 W).
        self.assertAlmostEqual((b - a) / 1e6, sim.energy_j(ta, tb, "package-0"), delta=16.5 * 0.004)

    def test_writer_cpu(self):
        sim = PowerSim()
        sim.start()
        time.sleep(1.0)
        sim.stop()
        cpu = sim.writer_cpu_s()
        elapsed = (sim.stop_ns - sim.start_ns) / 1e9
        sys.stderr.write("powersim writer: %.1f %% of one CPU (%.3f s over %.2f s)\n"
                         % (100 * cpu / elapsed, cpu, elapsed))
        self.assertLess(cpu / elapsed, 0.25)
        self.assertFalse(os.path.exists(sim.root))

    def test_command_line(self):
        root = tempfile.mkdtemp(prefix="powersim-cli-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
        self.addCleanup(subprocess.run, ["rm", "-rf", root])
        proc = subprocess.Popen([PYTHON, os.path.join(FIXTURES, "powersim.py"), "--root", root, "--layout",
                                 "intel-2s", "--constant", "20"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        self.assertEqual(proc.stdout.readline(), "ready\n")
        self.assertTrue(os.path.exists(os.path.join(root, "class", "powercap", "intel-rapl:0", "energy_uj")))
        started = time.monotonic()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        elapsed = time.monotonic() - started
        proc.stdout.close()
        with open(os.path.join(root, "truth.json")) as f:
            truth = json.load(f)
        self.assertEqual(truth["profile"]["decode"], 20.0)
        self.assertGreater(truth["components_j"], 20.0 * 0.3)
        self.assertLess(truth["components_j"], 20.0 * (elapsed + 0.5))
        self.assertAlmostEqual(truth["zones"]["intel-rapl:2"]["energy_j"], 1.25 * truth["components_j"], places=6)


# ---------------------------------------------------------------------------------- the harness itself


STUB = os.path.join(FIXTURES, "stub_llmlabd.py")
FAKE_CTL = r"""
import os, sys, json
import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio
conn = Gio.DBusConnection.new_for_address_sync(os.environ["DBUS_SESSION_BUS_ADDRESS"],
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
print(json.dumps({"uid": os.getuid(), "args": sys.argv[1:], "unique": conn.get_unique_name(),
                  "input": sys.stdin.read()}))
"""


class HarnessTest(LabTestCase):
    """LabTestCase against the stub daemon: the bus, fixtures, config, READY, signals, ctl."""

    use_wrapper = False

    def daemon_argv(self):
        return [PYTHON, STUB] + list(self.daemon_args)

    def ctl_argv(self):
        return [PYTHON, "-c", FAKE_CTL, "--user"]

    def stub_env(self):
        with open(os.path.join(self.state_dir, "stub-env.json")) as f:
            return json.load(f)

    def test_daemon_ready_on_private_bus(self):
        self.assertTrue(self.daemon_unique_name.startswith(":"))
        self.assertEqual(self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Version"), "0.0-stub")
        self.assertEqual(self.notify.wait_for("READY", "1", 0)["STATUS"], "stub running")
        env = self.stub_env()
        self.assertEqual(env["argv"][1:], ["--user", "-v"])
        env = env["env"]
        self.assertEqual(env["DBUS_SESSION_BUS_ADDRESS"], self.bus_address)
        self.assertEqual(env["LLMLAB_CONFIG"], self.config_path)
        self.assertEqual(env["STATE_DIRECTORY"], self.state_dir)
        self.assertEqual(env["LLMLAB_SYSFS_ROOT"], self.sysfs_root)
        self.assertEqual(os.listdir(self.sysfs_root), [])
        self.assertEqual(env["LLMLAB_DATA_DIR"], self.source_root)
        self.assertTrue(os.path.isdir(os.path.join(env["LLMLAB_DATA_DIR"], "system_prompts")))
        with open(self.config_path) as f:
            self.assertEqual(f.read(), "[Backend ollama]\nKind=ollama\nUrl=%s\n\n[Energy]\nSampleIntervalMs=10\n\n"
                                       "[Carbon]\nRegion=GLOBAL\n" % self.server.url)
        self.assertIn("stub: ready", self.wait_for_log("stub: ready"))

    def test_start_run_collects_chunks(self):
        self.server.scenario = Script(thinking_tokens=["hm"], tokens=["Hello", " world"], token_interval_ms=5)
        request = {"model": "qwen3:0.6b", "user_prompt": "hi", "max_tokens": 16, "seed": -1, "temperature": 1,
                   "injections": [("doc", "text")], "include_thinking": True, "num_ctx": 4096}
        path = self.start_run(request)
        self.assertEqual(path, "/org/llmlab/Lab1/run/1")
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "done")
        self.assertEqual(labtest.chunk_text(chunks), ("Hello world", "hm"))
        self.assertEqual([c[0] for c in chunks], [1, 2, 3])
        self.assertEqual(metrics["eval_count"], 3)
        self.assertEqual(metrics["types"], {"model": "s", "user_prompt": "s", "max_tokens": "u", "seed": "x",
                                            "temperature": "d", "injections": "a(ss)", "include_thinking": "b",
                                            "num_ctx": "u"})
        self.assertEqual(self.server.chats[0].request.body["messages"][0]["content"], "hi")

    def test_dbus_errors(self):
        with self.assertDBusError("InvalidArgument") as cm:
            self.start_run({"model": "m", "bogus": 1})
        self.assertIn("bogus", cm.message)
        with self.assertDBusError("InvalidArgument"):
            self.start_run({"model": "m", "max_tokens": labtest.GLib.Variant("i", 5)})

    def test_ctl_on_private_bus_any_uid(self):
        out = json.loads(self.ctl("status", "--json", input="in").stdout)
        self.assertEqual(out["args"], ["--user", "status", "--json"])
        self.assertEqual(out["input"], "in")
        self.assertEqual(out["uid"], os.getuid())
        if os.geteuid() == 0:
            out = json.loads(self.ctl("status", uid=65534).stdout)
            self.assertEqual(out["uid"], 65534)
            self.assertTrue(out["unique"].startswith(":"))
        proc = self.ctl("x", check=False, env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"})
        self.assertNotEqual(proc.returncode, 0)

    @lab_options(config_extra={"Energy": {"SampleIntervalMs": "5", "IdleWindowSec": "2"}, "Carbon": None,
                               "Backend llama": {"Kind": "openai", "Url": "http://127.0.0.1:1"}})
    def test_config_extra_and_restart(self):
        conf = self.config()
        self.assertEqual(conf["Energy"], {"SampleIntervalMs": "5", "IdleWindowSec": "2"})
        self.assertNotIn("Carbon", conf)
        self.assertEqual(conf["Backend llama"]["Kind"], "openai")
        first = self.daemon.pid
        self.config_extra = {"Carbon": {"Region": "FR"}}
        self.restart_daemon()
        self.assertNotEqual(self.daemon.pid, first)
        with open(self.config_path) as f:
            self.assertIn("[Carbon]\nRegion=FR\n", f.read())

    @lab_options(powersim={"layout": "amd", "max_range_uj": 1_000_000})
    def test_powersim_option(self):
        self.assertIsNotNone(self.sim)
        self.assertIs(self.server.power, self.sim)
        env = self.stub_env()["env"]
        self.assertEqual(env["LLMLAB_SYSFS_ROOT"], self.sim.root)
        self.assertTrue(os.path.exists(os.path.join(self.sim.root, "class", "powercap", "intel-rapl:0", "energy_uj")))
        self.server.scenario = Script(tokens=2, load_ms=20)
        self.wait_run(self.start_run({"model": "qwen3:0.6b", "user_prompt": "x"}))
        self.assertEqual([p for _, p in self.sim.phase_log][-4:], ["load", "prefill", "decode", "idle"])

    def test_kill_daemon(self):
        self.assertEqual(self.kill_daemon(), -signal.SIGKILL)

    @lab_options(autostart_daemon=False)
    def test_exit_code_is_checked(self):
        self.assertIsNone(self.daemon)
        self.start_daemon(extra_env={"STUB_EXIT_CODE": "3"})
        self.assertEqual(self.stop_daemon(), 3)
        self.start_daemon()
        self.daemon_expected_exit = 0

    def test_log_printed_on_failure(self):
        inner = os.path.join(self.tmpdir, "inner_test.py")
        with open(inner, "w") as f:
            f.write("import sys\nsys.path.insert(0, %r)\n" % os.path.dirname(os.path.abspath(__file__))
                    + "import unittest\nfrom test_fixtures_selftest import HarnessTest\n"
                    + "class Inner(HarnessTest):\n"
                    + "    def test_fails(self):\n        self.fail('on purpose')\n"
                    + "    def test_passes(self):\n        pass\n"
                    + "del HarnessTest\nunittest.main()\n")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("LLMLAB_TEST_VERBOSE", None)
        failed = subprocess.run([PYTHON, inner, "Inner.test_fails"], capture_output=True, text=True, env=env)
        self.assertEqual(failed.returncode, 1)
        self.assertIn("----- llmlabd log (__main__.Inner.test_fails) -----", failed.stderr)
        self.assertIn("stub: ready", failed.stderr)
        passed = subprocess.run([PYTHON, inner, "Inner.test_passes"], capture_output=True, text=True, env=env)
        self.assertEqual(passed.returncode, 0)
        self.assertNotIn("llmlabd log", passed.stderr)

    def test_signals_recorded_before_waiting(self):
        self.server.scenario = Script(tokens=3)
        path = self.start_run({"model": "qwen3:0.6b", "user_prompt": "x"})
        self.server.wait_chats(1)
        self.pump_until(lambda: any(s.member == "Finished" for s in self.signals), 10, "Finished")
        sig = self.wait_for_signal("Finished", path=path, match=lambda args: args[0] == "done")
        self.assertEqual(sig.interface, labtest.RUN_IFACE)


if __name__ == "__main__":
    labtest.main()
