#!/usr/bin/python3
"""The OpenAI-compatible backend (daemon/backend-openai.c) against the fake server's SSE mode:
the transcripts T3 to T6 of research/backends.md §6 replayed byte for byte, scripted faults
(keep-alive comments, error events before and after output, streams without [DONE], non-JSON
error bodies) and several backends configured at once (models per backend, --backend)."""

import http.server
import json
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, lab_dict, chunk_text  # noqa: E402
from fake_llm_server import FakeLLMServer, FakeModel, Script  # noqa: E402
from gi.repository import GLib  # noqa: E402

MODEL = "qwen3:0.6b"  # a thinking model of the fake server
BACKEND_ERROR = labtest.ERROR_PREFIX + "BackendError"


CHUNK_A = '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}'
USAGE = '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'


def sse(*events):
    """An SSE body: one `data:` event per string."""
    return b"".join(b"data: " + e.encode("utf-8") + b"\n\n" for e in events)


class _RawHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            self._reply(200, b'{"status":"ok"}')
        elif self.path == "/v1/models":
            self._reply(200, json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode())
        else:
            self._reply(404, b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/chat/completions":
            return self._reply(404, b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}')
        # the body as it is, then the connection is closed: no [DONE] unless the body has it
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(self.server.body)
        self.wfile.flush()
        self.close_connection = True


class RawServer:
    """A minimal OpenAI-style server whose chat answer is `body`, byte for byte, ended by closing
    the connection (for streams the fake server cannot produce)."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RawHandler)
        self.httpd.daemon_threads = True
        self.httpd.body = b""
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def body(self):
        return self.httpd.body

    @body.setter
    def body(self, value):
        self.httpd.body = value

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def request(**kw):
    r = {"model": MODEL, "user_prompt": "What is 17 × 23?", "include_thinking": True}
    r.update(kw)
    return r


class OpenAITestCase(LabTestCase):
    """The fake server as the only backend, "oa", speaking the OpenAI protocol."""

    def base_config(self):
        conf = super().base_config()
        del conf["Backend ollama"]
        return dict({"Backend oa": {"Kind": "openai", "Url": self.server.url}}, **conf)

    def run_replay(self, name, **kw):
        self.server.scenario = Script.replay_of(name)
        path = self.start_run(request(**kw))
        result, metrics, chunks = self.wait_run(path)
        transcript = self.call(path, labtest.RUN_IFACE, "GetTranscript", None, "(ss)")
        # the streamed chunks always equal the stored transcript, whatever the outcome
        self.assertEqual(chunk_text(chunks), transcript)
        return result, metrics, transcript

    def assertFailed(self, result, metrics, name=BACKEND_ERROR, contains=None):
        self.assertEqual(result, "failed", metrics)
        self.assertEqual(metrics["error"]["name"], name, metrics["error"])
        if contains is not None:
            self.assertIn(contains, metrics["error"]["message"])


class OpenAITranscriptTest(OpenAITestCase):
    def test_T3_vllm_reasoning_and_usage_chunk(self):
        result, metrics, transcript = self.run_replay("T3")
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(transcript, ("Hi there! 👋", "The user wants a greeting."))
        self.assertEqual(metrics["tokens"]["input"], 12)
        self.assertEqual(metrics["tokens"]["output"], 16)
        self.assertEqual(metrics["done_reason"], "stop")
        # no timings from vLLM: the phases are split at the first token, and the result says so
        self.assertEqual(metrics["timing"]["prefill_ms"], metrics["timing"]["ttft_ms"])
        self.assertNotIn("load_ms", metrics["timing"])

    def test_T3b_reasoning_content(self):
        result, metrics, transcript = self.run_replay("T3b")
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(transcript, ("Hi there! 👋", "The user wants a greeting."))
        self.assertEqual((metrics["tokens"]["input"], metrics["tokens"]["output"]), (12, 16))

    def test_T3c_plain_openai_usage_null(self):
        result, metrics, transcript = self.run_replay("T3c")
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(transcript, ("Hi there! 👋", ""))
        self.assertEqual((metrics["tokens"]["input"], metrics["tokens"]["output"]), (12, 6))
        self.assertEqual(metrics["tokens"]["cached"], 0)
        self.assertEqual(metrics["tokens"]["thinking"], 0)  # completion_tokens_details.reasoning_tokens
        self.assertFalse(metrics["tokens"]["thinking_estimated"])

    def test_T4_llamacpp_pings_timings_usage(self):
        result, metrics, transcript = self.run_replay("T4")
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(transcript, ("391", "Simple arithmetic."))
        tokens, timing = metrics["tokens"], metrics["timing"]
        self.assertEqual(tokens["input"], 237)  # prompt_tokens = cache_n + prompt_n
        self.assertEqual(tokens["cached"], 236)
        self.assertEqual(tokens["output"], 35)
        self.assertAlmostEqual(timing["prefill_ms"], 30.958, places=6)
        self.assertAlmostEqual(timing["decode_ms"], 661.064, places=6)
        self.assertEqual(metrics["done_reason"], "stop")

    def test_T4b_timings_on_finish_chunk(self):
        result, metrics, transcript = self.run_replay("T4b")
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(transcript, ("", ""))
        self.assertEqual((metrics["tokens"]["input"], metrics["tokens"]["output"]), (44, 48))
        self.assertNotIn("cached", metrics["tokens"])  # an older build without cache_n
        self.assertAlmostEqual(metrics["timing"]["prefill_ms"], 120.5, places=6)
        self.assertEqual(metrics["timing"]["decode_ms"], 912.0)  # a JSON integer
        self.assertEqual(metrics["done_reason"], "length")

    def test_T6_framing(self):
        for name in ("T6c", "T6d", "T6g"):  # CRLF, lone CR split across reads, BOM
            with self.subTest(name):
                result, metrics, transcript = self.run_replay(name)
                self.assertEqual(result, "done", metrics.get("error"))
                self.assertEqual(transcript, ("Hi there! 👋", "The user wants a greeting."))
                self.assertEqual((metrics["tokens"]["input"], metrics["tokens"]["output"]), (12, 16))
        for name in ("T6e", "T6f"):  # data: without space, comments and fields; multi-line data
            with self.subTest(name):
                result, metrics, transcript = self.run_replay(name)
                self.assertEqual(result, "done", metrics.get("error"))
                self.assertEqual(transcript, ("ab", ""))
                self.assertEqual(metrics["done_reason"], "stop")

    def test_T6j_sse_pings_keep_a_silent_stream_alive(self):
        self.server.scenario = Script.replay_of("T6j-sse", silence_s=3.0)
        self.restart_daemon_with({"Daemon": {"IdleTimeoutSec": "2", "FirstByteTimeoutSec": "2"}})
        result, metrics, chunks = self.run_to_end(request())
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(chunk_text(chunks), ("391", "Simple arithmetic."))
        # the pings are not the first byte of the answer
        self.assertGreater(metrics["timing"]["first_byte_ms"], 2900)

    def restart_daemon_with(self, extra):
        self.config_extra = extra
        self.restart_daemon()


class OpenAIFaultTest(OpenAITestCase):
    def setUp(self):
        self.raw = RawServer()
        self.addCleanup(self.raw.stop)
        super().setUp()

    def base_config(self):
        conf = super().base_config()
        conf["Backend raw"] = {"Kind": "openai", "Url": self.raw.url}
        return conf

    def test_keepalive_comments_are_not_the_first_byte(self):
        self.server.scenario = Script(tokens=["a", "b"], prefill_ms=400, sse_ping_ms=20)
        result, metrics, chunks = self.run_to_end(request())
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(chunk_text(chunks), ("ab", ""))
        timing = metrics["timing"]
        self.assertGreaterEqual(timing["first_byte_ms"], 380)
        self.assertGreaterEqual(timing["first_answer_ms"], timing["first_byte_ms"])
        self.assertEqual(metrics["tokens"]["pieces"], 2)
        self.assertEqual(metrics["tokens"]["output"], 2)

    def test_content_null_and_role_chunk(self):
        # the llama.cpp flavour starts with {"role":"assistant","content":null}
        self.server.scenario = Script(tokens=["x", "y"], thinking_tokens=["t"])
        result, metrics, chunks = self.run_to_end(request())
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(chunk_text(chunks), ("xy", "t"))
        self.assertEqual(metrics["tokens"]["pieces"], 3)

    def test_both_reasoning_fields(self):
        for flavor, field in (("llamacpp", "reasoning_content"), ("vllm", "reasoning"),
                              ("llamacpp", "reasoning"), ("vllm", "reasoning_content")):
            with self.subTest(flavor=flavor, field=field):
                self.server.scenario = Script(tokens=["Hi"], thinking_tokens=["Hmm", " ok"], sse_flavor=flavor,
                                              reasoning_field=field)
                result, metrics, chunks = self.run_to_end(request())
                self.assertEqual(result, "done", metrics.get("error"))
                self.assertEqual(chunk_text(chunks), ("Hi", "Hmm ok"))
                self.assertEqual(metrics["tokens"]["output"], 3)
                self.assertEqual(metrics["tokens"]["thinking"], 2)  # split by pieces, and marked so
                self.assertTrue(metrics["tokens"]["thinking_estimated"])

    def test_thinking_switch_always_sent(self):
        # OpenAI-compatible servers do not report a thinking capability, and templates ignore
        # kwargs they do not use: include_thinking is always passed on, so that it can be turned off.
        self.run_to_end(request(include_thinking=False))
        self.run_to_end(request(include_thinking=True))
        bodies = [c.request.body for c in self.server.chats if c.request.path == "/v1/chat/completions"]
        self.assertEqual(bodies[0]["chat_template_kwargs"], {"enable_thinking": False})
        self.assertEqual(bodies[1]["chat_template_kwargs"], {"enable_thinking": True})
        body = bodies[0]
        self.assertEqual(body["stream_options"], {"include_usage": True})
        self.assertIs(body["stream"], True)

    def test_request_body(self):
        self.run_to_end(request(system_prompt="Be brief.", temperature=0.25, max_tokens=7, seed=-42))
        body = self.server.chats[0].request.body
        self.assertEqual(body["model"], MODEL)
        self.assertEqual(body["messages"], [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "What is 17 × 23?"}])
        self.assertEqual((body["temperature"], body["max_tokens"], body["seed"]), (0.25, 7, -42))
        self.assertEqual(self.server.chats[0].request.path, "/v1/chat/completions")

    def test_error_event_before_output(self):
        for flavor in ("llamacpp", "vllm"):  # vLLM sends [DONE] after the error: still a failure
            with self.subTest(flavor):
                self.server.scenario = Script(tokens=4, error_after=0, sse_flavor=flavor, error_message="boom")
                result, metrics, chunks = self.run_to_end(request())
                self.assertFailed(result, metrics, contains="boom")
                self.assertEqual(chunks, [])

    def test_error_event_after_output(self):
        self.server.scenario = Script(tokens=["Par", "tial", "x"], error_after=2)
        result, metrics, chunks = self.run_to_end(request())
        self.assertFailed(result, metrics, contains="Failed to decode the batch")
        self.assertEqual(chunk_text(chunks), ("Partial", ""))

    def test_T5c_T5d_T5e_midstream_errors(self):
        for name, answer, message in (("T5c", "Partial", "Failed to decode the batch"),
                                      ("T5d", "Partial", "Failed to decode the batch"),
                                      ("T5e", "", "EngineCore encountered an issue")):
            with self.subTest(name):
                result, metrics, transcript = self.run_replay(name)
                self.assertFailed(result, metrics, contains=message)
                self.assertEqual(transcript, (answer, ""))
                self.assertNotIn("output", metrics["tokens"])  # no counts from a failed stream

    def test_stream_without_done(self):
        result, metrics, transcript = self.run_replay("T5g")
        self.assertFailed(result, metrics, contains="truncated")
        self.assertEqual(transcript, ("", "The user wants a greeting."))
        self.server.scenario = Script(tokens=5, truncate_after=3)
        result, metrics, chunks = self.run_to_end(request())
        self.assertFailed(result, metrics, contains="truncated")
        self.assertEqual(chunk_text(chunks)[0], "The quick brown")

    def test_usage_without_done_is_truncated(self):
        # everything but the terminator: a server killed between the usage chunk and [DONE]
        self.raw.body = sse(CHUNK_A, USAGE)
        result, metrics, chunks = self.run_to_end(request(backend="raw"))
        self.assertFailed(result, metrics, contains="truncated")
        self.assertEqual(chunk_text(chunks), ("a", ""))

    def test_bad_events(self):
        for events, message in (([CHUNK_A, "{not json", "[DONE]"], "invalid JSON"),
                                ([CHUNK_A, "[1, 2]", "[DONE]"], "not a JSON object")):
            with self.subTest(message):
                self.raw.body = sse(*events)
                result, metrics, chunks = self.run_to_end(request(backend="raw"))
                self.assertFailed(result, metrics, contains=message)

    def test_error_null_is_no_error(self):
        self.raw.body = sse('{"error":null,"choices":[{"index":0,"delta":{"content":"a"}}]}', USAGE, "[DONE]")
        result, metrics, chunks = self.run_to_end(request(backend="raw"))
        self.assertEqual(result, "done", metrics.get("error"))
        self.assertEqual(chunk_text(chunks), ("a", ""))
        self.assertEqual((metrics["tokens"]["input"], metrics["tokens"]["output"]), (3, 1))

    def test_empty_response(self):
        self.server.scenario = Script(close_after_headers=True)
        result, metrics, chunks = self.run_to_end(request())
        self.assertFailed(result, metrics, contains="empty response")

    def test_http_errors(self):
        cases = [
            ("T5a", BACKEND_ERROR, "exceeds the available context size (8192 tokens)"),
            ("T5b", BACKEND_ERROR, "Loading model"),
            ("T5f", labtest.ERROR_PREFIX + "NoSuchModel", "The model `foo` does not exist."),
            ("T5f-new", labtest.ERROR_PREFIX + "NoSuchModel", "The model `foo` does not exist."),
            ("T2h", BACKEND_ERROR, "HTTP 404: 404 page not found"),
        ]
        for name, error, message in cases:
            with self.subTest(name):
                result, metrics, transcript = self.run_replay(name)
                self.assertFailed(result, metrics, error, message)
                self.assertEqual(transcript, ("", ""))

    def test_non_json_error_bodies(self):
        for status, body, ctype, message in (
                (502, "<html><body>Bad Gateway</body></html>", "text/html", "HTTP 502: <html><body>Bad Gateway"),
                (405, "method not allowed", "text/plain", "HTTP 405: method not allowed"),
                (403, "", "text/plain", "HTTP 403: (empty response)"),
                (500, "{not json", "application/json", "HTTP 500: {not json")):
            with self.subTest(status):
                self.server.scenario = Script(http_error=(status, body, ctype))
                result, metrics, chunks = self.run_to_end(request())
                self.assertFailed(result, metrics, contains=message)

    def test_cancel_closes_the_connection(self):
        self.server.scenario = Script(tokens=400, token_interval_ms=20)
        path = self.start_run(request())
        self.wait_for_signal("Chunk", path=path, interface=labtest.RUN_IFACE, timeout=10)
        self.call(path, labtest.RUN_IFACE, "Cancel")
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "cancelled")
        self.server.wait_cancelled(1, timeout=10)


class OpenAIModelsTest(OpenAITestCase):
    def test_list_models_and_info(self):
        models = self.manager_call("ListModels", GLib.Variant.new_tuple(lab_dict({})), "(aa{sv})")
        self.assertEqual([m["name"] for m in models], ["qwen3:0.6b", "llama3.2:latest", "gemma3:270m"])
        self.assertEqual({m["backend"] for m in models}, {"oa"})
        self.assertEqual(models[0]["context_length"], 40960)  # vLLM's max_model_len
        info = self.manager_call("GetModelInfo", GLib.Variant("(sa{sv})", ("llama3.2:latest", {})), "(a{sv})")
        self.assertEqual(info["name"], "llama3.2:latest")
        self.assertEqual(info["backend"], "oa")
        self.assertEqual(info["context_length"], 131072)
        with self.assertDBusError("NoSuchModel"):
            self.manager_call("GetModelInfo", GLib.Variant("(sa{sv})", ("nope", {})), "(a{sv})")
        with self.assertDBusError("NoSuchModel"):
            self.start_run(request(model="nope"))

    def test_health_decides_reachability(self):
        backends = self.pump_until(lambda: [b for b in self.manager_backends() if b.get("reachable")], 10,
                                   "the backend probed reachable")
        self.assertEqual(backends[0]["id"], "oa")
        self.assertEqual(backends[0]["kind"], "openai")
        self.assertTrue(backends[0]["reachable"])
        self.assertTrue([r for r in self.server.requests if r.path == "/health"])
        # /health answering 503 (a model loading) makes it unreachable, with the server's reason
        self.server.loading = True
        self.restart_daemon()
        backends = self.pump_until(lambda: [b for b in self.manager_backends() if b.get("error")], 10,
                                   "the backend probed unreachable")
        self.assertFalse(backends[0]["reachable"])
        self.assertIn("Loading model", backends[0]["error"])

    def manager_backends(self):
        return self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Backends")


class MultiBackendTest(LabTestCase):
    """Three backends at once: the fake server as Ollama ("local", first) and as an OpenAI server
    ("oa"), and a second fake server with other models as OpenAI ("vllm")."""

    def setUp(self):
        self.other = FakeLLMServer(models=[FakeModel("Qwen/Qwen3-0.6B", family="qwen3", context_length=32768),
                                           FakeModel("other-model", context_length=8192)],
                                   openai_strict_models=True)
        self.other.start()
        self.addCleanup(self.other.stop)
        super().setUp()

    def base_config(self):
        conf = super().base_config()
        del conf["Backend ollama"]
        backends = {"Backend local": {"Kind": "ollama", "Url": self.server.url},
                    "Backend oa": {"Kind": "openai", "Url": self.server.url},
                    "Backend vllm": {"Kind": "openai", "Url": self.other.url}}
        return dict(backends, **conf)

    def list_models(self, options):
        return self.manager_call("ListModels", GLib.Variant.new_tuple(lab_dict(options)), "(aa{sv})")

    def test_models_per_backend(self):
        models = self.list_models({})
        pairs = [(m["backend"], m["name"]) for m in models]
        self.assertEqual(sorted(pairs), sorted([("local", "qwen3:0.6b"), ("local", "llama3.2:latest"),
                                                ("local", "gemma3:270m"), ("oa", "qwen3:0.6b"),
                                                ("oa", "llama3.2:latest"), ("oa", "gemma3:270m"),
                                                ("vllm", "Qwen/Qwen3-0.6B:latest"), ("vllm", "other-model:latest")]))
        self.assertEqual([m["name"] for m in self.list_models({"backend": "vllm"})],
                         ["Qwen/Qwen3-0.6B:latest", "other-model:latest"])
        with self.assertDBusError("InvalidArgument"):
            self.list_models({"backend": "nope"})
        # the CLI shows the same, per backend
        out = self.ctl("--json=short", "models").stdout
        self.assertIn('"backend":"vllm"', out.replace(" ", ""))
        out = self.ctl("--json=short", "models", "--backend", "vllm").stdout
        self.assertIn("other-model:latest", out)
        self.assertNotIn("gemma3", out)

    def test_backend_selection_through_llmlabctl(self):
        def streamed(server):  # the runs, not the breakdown's one-token prompt probes
            return [c.request.path for c in server.chats if c.request.body.get("stream", True)]

        # default: the first configured backend (Ollama's native API)
        self.ctl("run", "-m", "llama3.2:latest", "-p", "hi", "-n", "4", "--quiet")
        self.assertEqual(streamed(self.server), ["/api/chat"])
        # --backend oa: the same server through /v1
        proc = self.ctl("run", "--backend", "oa", "-m", "llama3.2:latest", "-p", "hi", "-n", "4", "--quiet")
        self.assertEqual(proc.stdout.rstrip("\n"), "The quick brown fox")
        self.assertEqual(streamed(self.server), ["/api/chat", "/v1/chat/completions"])
        # --backend vllm: the other server
        proc = self.ctl("--json=short", "run-energy", "--backend", "vllm", "-m", "other-model:latest", "-p", "hi",
                        "-n", "3", "--measure", "estimate")
        self.assertEqual(len(self.other.chats), 1)
        self.assertEqual(self.other.chats[0].request.body["model"], "other-model:latest")
        self.assertEqual(self.other.chats[0].request.body["max_tokens"], 3)
        self.assertIn('"backend":"vllm"', proc.stdout.replace(" ", ""))
        # a model of another backend is not found on this one
        proc = self.ctl("run", "--backend", "vllm", "-m", "gemma3:270m", "-p", "hi", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("gemma3:270m", proc.stderr)
        proc = self.ctl("run", "--backend", "nope", "-m", "gemma3:270m", "-p", "hi", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("nope", proc.stderr)

    def test_comparison_panes_on_several_backends(self):
        panes = [{"model": "llama3.2:latest", "backend": "oa"}, {"model": "other-model:latest", "backend": "vllm"},
                 {"model": "gemma3:270m"}]
        # the shared request is validated like a run's, model included (each pane names its own)
        args = GLib.Variant.new_tuple(lab_dict({"model": "llama3.2:latest", "user_prompt": "hi", "max_tokens": 5}),
                                      GLib.Variant("aa{sv}", [{k: labtest.to_variant(k, v) for k, v in p.items()}
                                                              for p in panes]),
                                      lab_dict({}))
        job = self.manager_call("StartComparison", args, "(o)")
        sig = self.wait_for_signal("Finished", path=job, interface=labtest.JOB_IFACE, timeout=30)
        self.assertEqual(sig.args[0], "done")
        runs = self.get_property(job, labtest.JOB_IFACE, "Runs")
        results = [self.get_property(r, labtest.RUN_IFACE, "Result") for r in runs]
        self.assertEqual([(r["backend"], r["model"], r["tokens"]["output"]) for r in results],
                         [("oa", "llama3.2:latest", 5), ("vllm", "other-model:latest", 5), ("local", "gemma3:270m", 5)])
        self.assertEqual(sorted(c.request.path for c in self.server.chats if c.request.body.get("stream", True)),
                         ["/api/chat", "/v1/chat/completions"])
        self.assertEqual([c.request.path for c in self.other.chats], ["/v1/chat/completions"])

    def test_status_lists_every_backend(self):
        backends = self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Backends")
        self.assertEqual([(b["id"], b["kind"]) for b in backends],
                         [("local", "ollama"), ("oa", "openai"), ("vllm", "openai")])


if __name__ == "__main__":
    labtest.main()
