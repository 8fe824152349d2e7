#!/usr/bin/python3
"""Runs end to end: a private bus, the real llmlabd --user, the fake Ollama server. Streaming,
thinking, request options, prompt composition, every backend error, cancellation, owner
tracking, input validation, concurrent clients."""

import http.server
import json
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, lab_options, lab_dict, chunk_text  # noqa: E402
from fake_llm_server import Script  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

MODEL = "qwen3:0.6b"          # a thinking model of the fake server
PLAIN_MODEL = "llama3.2:latest"  # no thinking capability


def request(**kw):
    r = {"model": MODEL, "user_prompt": "What is 17 × 23?"}
    r.update(kw)
    return r


class StreamTest(LabTestCase):
    def test_streamed_text_equals_server_text(self):
        pieces = ["Grüße", " — ", "👋🏽", " <b>&</b>", " 17 × 23", " = 391", "\n", "tab\tend"]
        thinking = ["Let me", " think…", " 17×20=340"]
        self.server.scenario = Script(tokens=pieces, thinking_tokens=thinking, token_interval_ms=2)
        result, metrics, chunks = self.run_to_end(request(include_thinking=True))
        self.assertEqual(result, "done")
        self.assertEqual(chunk_text(chunks), ("".join(pieces), "".join(thinking)))
        # seq numbers start at 1 and have no gaps
        self.assertEqual([c[0] for c in chunks], list(range(1, len(chunks) + 1)))
        run = self.server.chats[0]
        self.assertEqual(metrics["tokens"]["input"], run.metrics["prompt_eval_count"])
        self.assertEqual(metrics["tokens"]["output"], run.metrics["eval_count"])
        self.assertEqual(metrics["state"], "done")
        self.assertEqual(metrics["done_reason"], "stop")

    def test_transcript_replay_T1(self):
        self.server.scenario = Script.replay_of("T1")
        path = self.start_run(request(include_thinking=True))
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "done")
        answer, thinking = self.call(path, labtest.RUN_IFACE, "GetTranscript", None, "(ss)")
        self.assertEqual(answer, "17 × 23 = **391**.")
        self.assertEqual(thinking, "Okay, the user asks for 17 × 23. 17 × 20 = 340, 17 × 3 = 51, so 391.\n")
        self.assertEqual(chunk_text(chunks), (answer, thinking))
        self.assertEqual(metrics["tokens"]["input"], 18)
        self.assertEqual(metrics["tokens"]["output"], 64)
        self.assertAlmostEqual(metrics["timing"]["load_ms"], 1203.5567, places=3)
        self.assertAlmostEqual(metrics["timing"]["prefill_ms"], 41.23, places=3)
        self.assertAlmostEqual(metrics["timing"]["decode_ms"], 380.114, places=3)
        # thinking tokens are split from the exact total by streamed pieces, and say so
        self.assertTrue(metrics["tokens"]["thinking_estimated"])
        self.assertEqual(metrics["tokens"]["thinking"] + metrics["tokens"]["answer"], 64)

    def test_framing_torture(self):
        pieces = ["a×b", " ✓ ", "ünïcødé", " end"]
        for script in (Script(tokens=pieces, split_writes=True, split_pause_ms=5), Script(tokens=pieces, crlf=True),
                       Script(tokens=pieces, huge_line_bytes=4 * 1024 * 1024), Script(tokens=pieces, final_text=True)):
            self.server.scenario = script
            result, metrics, chunks = self.run_to_end(request())
            self.assertEqual(result, "done", metrics.get("error"))
            self.assertEqual(chunk_text(chunks)[0], "".join(pieces))

    def test_think_field(self):
        self.run_to_end(request(include_thinking=False))
        self.run_to_end(request(include_thinking=True))
        self.run_to_end(request(model=PLAIN_MODEL, include_thinking=True))
        self.run_to_end(request(model=PLAIN_MODEL))
        bodies = [c.request.body for c in self.server.chats if c.request.body.get("stream", True)]
        self.assertIs(bodies[0]["think"], False)
        self.assertIs(bodies[1]["think"], True)
        self.assertNotIn("think", bodies[2])  # a model without the capability gets no think field
        self.assertNotIn("think", bodies[3])

    def test_request_options_forwarded(self):
        self.run_to_end(request(temperature=0.25, max_tokens=7, seed=-42, num_ctx=8192))
        body = self.server.chats[0].request.body
        self.assertEqual(body["options"], {"temperature": 0.25, "num_predict": 7, "seed": -42, "num_ctx": 8192})
        self.assertIs(body["stream"], True)
        self.assertEqual(body["model"], MODEL)

    def test_prompt_composition(self):
        self.run_to_end(request(system_prompt="You are terse.", conversation_context="<user>hi</user>",
                                injections=[("memory", "The user likes cats."), ("", "second")]))
        messages = self.server.chats[0].request.body["messages"]
        self.assertEqual(messages[0], {"role": "system", "content":
                                       "You are terse.\n\n<conversation_context>\n<user>hi</user>\n"
                                       "</conversation_context>\n\n---\n\n[memory]\nThe user likes cats."
                                       "\n\n---\n\n[Unknown Injection]\nsecond"})
        self.assertEqual(messages[1], {"role": "user", "content": "What is 17 × 23?"})

    def test_no_system_message_without_system_parts(self):
        self.run_to_end(request())
        self.assertEqual(self.server.chats[0].request.body["messages"], [{"role": "user", "content": "What is 17 × 23?"}])

    def test_preset(self):
        with open(os.path.join(self.source_root, "system_prompts", "concise.md"), encoding="utf-8") as f:
            text = f.read()
        self.run_to_end(request(system_prompt_id="concise"))
        self.assertEqual(self.server.chats[0].request.body["messages"][0], {"role": "system", "content": text})
        presets = self.manager_call("ListSystemPrompts", None, "(aa{sv})")
        ids = [p["id"] for p in presets]
        self.assertEqual(ids, sorted(ids))
        self.assertTrue({"assistant", "concise", "guardrails", "persona-tutor"} <= set(ids))
        self.assertEqual(self.manager_call("GetSystemPrompt", GLib.Variant("(s)", ("concise",)), "(s)"), text)

    def test_local_preset_overrides_builtin(self):
        local = os.path.join(os.path.dirname(self.config_path), "system_prompts")
        os.makedirs(local, exist_ok=True)
        with open(os.path.join(local, "concise.md"), "w") as f:
            f.write("Local concise.\n")
        with open(os.path.join(local, "house.txt"), "w") as f:
            f.write("House style.\n")
        self.assertEqual(self.manager_call("GetSystemPrompt", GLib.Variant("(s)", ("concise",)), "(s)"),
                         "Local concise.\n")
        presets = {p["id"]: p for p in self.manager_call("ListSystemPrompts", None, "(aa{sv})")}
        self.assertEqual(presets["house"]["origin"], "local")
        self.assertEqual(presets["assistant"]["origin"], "builtin")

    def test_models_and_model_info(self):
        models = self.manager_call("ListModels", GLib.Variant("(a{sv})", ({},)), "(aa{sv})")
        names = [m["name"] for m in models]
        self.assertIn(MODEL, names)
        self.assertTrue(all(m["backend"] == "ollama" for m in models))
        info = self.manager_call("GetModelInfo", GLib.Variant("(sa{sv})", (MODEL, {})), "(a{sv})")
        self.assertEqual(info["context_length"], 40960)
        self.assertEqual(info["family"], "qwen3")
        self.assertIn("thinking", info["capabilities"])
        self.assertEqual(info["quantization"], "Q4_K_M")

    def test_backends_property(self):
        backends = self.pump_until(
            lambda: (lambda b: b if b and b[0].get("reachable") else None)(
                self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Backends")),
            timeout=10, what="the backend probed reachable")
        self.assertEqual(backends[0]["id"], "ollama")
        self.assertEqual(backends[0]["url"], self.server.url)
        self.assertEqual(backends[0]["version"], "0.12.6")


class ErrorTest(LabTestCase):
    def test_unknown_model(self):
        with self.assertDBusError("NoSuchModel") as cm:
            self.start_run(request(model="llama9"))
        self.assertIn("llama9", cm.message)

    @lab_options(config_extra={"Backend ollama": {"Url": "http://127.0.0.1:9"}})
    def test_backend_down(self):
        with self.assertDBusError("BackendUnavailable") as cm:
            self.start_run(request())
        self.assertIn("http://127.0.0.1:9", cm.message)
        with self.assertDBusError("BackendUnavailable"):
            self.manager_call("ListModels", GLib.Variant("(a{sv})", ({},)), "(aa{sv})")

    def assertRunFails(self, script, name, text, req=None):
        self.server.scenario = script
        path = self.start_run(req or request())
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "failed")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + name)
        self.assertIn(text, metrics["error"]["message"])
        error = self.get_property(path, labtest.RUN_IFACE, "Error")
        self.assertEqual(error, (labtest.ERROR_PREFIX + name, metrics["error"]["message"]))
        self.assertNotIn("wh_per_1000_etokens", metrics.get("energy", {}))
        return metrics, chunks

    def test_http_error_before_stream(self):
        msg = ("model runner has unexpectedly stopped, this may be due to resource limitations or an internal "
               "error, check ollama server logs for details")
        self.assertRunFails(Script(http_error=(500, json.dumps({"error": msg}))), "BackendError", msg)

    def test_http_404_is_no_such_model(self):
        self.assertRunFails(Script(http_error=(404, '{"error":"model \'qwen3:0.6b\' not found"}')), "NoSuchModel",
                            "not found")

    def test_http_error_plain_text(self):
        self.assertRunFails(Script(http_error=(405, "405 method not allowed", "text/plain")), "BackendError",
                            "405 method not allowed")

    def test_error_mid_stream(self):
        metrics, chunks = self.assertRunFails(Script(tokens=["The", " sky", " is"], error_after=2), "BackendError",
                                              "an error was encountered while running the model")
        self.assertEqual(chunk_text(chunks)[0], "The sky")

    def test_truncated_stream(self):
        self.assertRunFails(Script(tokens=6, truncate_after=2), "BackendError", "truncated")

    def test_close_after_headers(self):
        self.assertRunFails(Script(close_after_headers=True), "BackendError", "")

    @lab_options(config_extra={"Daemon": {"IdleTimeoutSec": "1"}})
    def test_stall_longer_than_idle_timeout(self):
        self.assertRunFails(Script(tokens=5, stall_after=(2, 4)), "BackendError", "stalled")


class InvalidJsonStreamTest(LabTestCase):
    """A server that answers /api/show correctly but sends a line that is not JSON in the stream."""

    def test_invalid_json_fails_the_run(self):
        real = self.server

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(length)
                if self.path == "/api/show":
                    import urllib.request
                    req = urllib.request.Request(real.url + "/api/show", data=data,
                                                 headers={"Content-Type": "application/json"})
                    out = urllib.request.urlopen(req).read()
                    ctype = "application/json; charset=utf-8"
                else:
                    out = (b'{"model":"m","created_at":"x","message":{"role":"assistant","content":"ok"},'
                           b'"done":false}\n{"model":"m", this is not json}\n')
                    ctype = "application/x-ndjson"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                out = b'{"version":"0.0.1"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        self.stop_daemon()
        self.config_extra = {"Backend broken": {"Kind": "ollama", "Url": "http://127.0.0.1:%d" % srv.server_port}}
        self.start_daemon()
        path = self.start_run(request(backend="broken"))
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "failed")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + "BackendError")
        self.assertIn("invalid JSON", metrics["error"]["message"])
        self.assertEqual(chunk_text(chunks)[0], "ok")


class CancelTest(LabTestCase):
    def test_cancel_mid_stream(self):
        self.server.scenario = Script(tokens=400, token_interval_ms=20)
        path = self.start_run(request())
        self.wait_for_signal("Chunk", path=path, interface=labtest.RUN_IFACE, timeout=10)
        self.call(path, labtest.RUN_IFACE, "Cancel")
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "cancelled")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + "Cancelled")
        self.server.wait_cancelled(1, timeout=10)  # the connection to the server was closed
        self.assertEqual(self.get_property(path, labtest.RUN_IFACE, "State"), "cancelled")
        # cancelling again is harmless
        self.call(path, labtest.RUN_IFACE, "Cancel")

    def test_owner_disconnect_cancels(self):
        self.server.scenario = Script(tokens=400, token_interval_ms=20)
        other = Gio.DBusConnection.new_for_address_sync(
            self.bus_address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        path = other.call_sync(labtest.BUS_NAME, labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "StartRun",
                               GLib.Variant.new_tuple(lab_dict(request())), GLib.VariantType("(o)"),
                               Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        self.server.wait_requests(1, timeout=10, path="/api/chat")
        other.close_sync(None)
        self.server.wait_cancelled(1, timeout=10)
        self.pump_until(lambda: self.get_property(path, labtest.RUN_IFACE, "State") == "cancelled", timeout=10,
                        what="the run cancelled")

    def test_result_and_transcript_after_finish(self):
        self.server.scenario = Script(tokens=["x", "y"])
        path = self.start_run(request())
        result, metrics, chunks = self.wait_run(path)
        props = self.get_all_properties(path, labtest.RUN_IFACE)
        self.assertEqual(props["State"], "done")
        self.assertEqual(props["Model"], MODEL)
        self.assertEqual(props["Backend"], "ollama")
        self.assertEqual(props["Owner"], os.getuid())
        self.assertEqual(props["Result"]["run"], metrics["run"])
        self.assertEqual(props["Job"], "/")


class ValidationTest(LabTestCase):
    def assertInvalid(self, req, text, name="InvalidArgument"):
        with self.assertDBusError(name) as cm:
            self.start_run(req)
        self.assertIn(text, cm.message)
        self.assertEqual(self.server.chats, [])  # nothing started

    def test_unknown_key(self):
        self.assertInvalid(request(colour="red"), '"colour"')

    def test_wrong_type(self):
        req = {k: labtest.to_variant(k, v) for k, v in request().items()}
        req["temperature"] = GLib.Variant("s", "hot")
        self.assertInvalid(req, '"temperature" must be of type \'d\', not \'s\'')
        req = {k: labtest.to_variant(k, v) for k, v in request().items()}
        req["injections"] = GLib.Variant("as", ["x"])
        self.assertInvalid(req, '"injections" must be of type \'a(ss)\'')

    def test_ranges(self):
        self.assertInvalid(request(temperature=2.5), "temperature must be between 0 and 2")
        self.assertInvalid(request(temperature=-0.1), "temperature must be between 0 and 2")
        self.assertInvalid(request(max_tokens=0), "max_tokens must be between 1 and 32768")
        self.assertInvalid(request(max_tokens=32769), "max_tokens must be between 1 and 32768")
        self.assertInvalid(request(measure="sometimes"), '"measure" must be')

    def test_required_and_exclusive(self):
        self.assertInvalid({"user_prompt": "hi"}, "model is required")
        self.assertInvalid({"model": MODEL}, "user_prompt is required")
        self.assertInvalid(request(system_prompt="a", system_prompt_id="concise"), "mutually exclusive")
        self.assertInvalid(request(backend="nope"), 'No backend "nope"')

    def test_sizes(self):
        self.assertInvalid(request(user_prompt="x" * (256 * 1024 + 1)), "user_prompt is too long")
        self.assertInvalid(request(injections=[("d%d" % i, "c") for i in range(33)]), "too many injections")
        self.assertInvalid(request(injections=[("big", "y" * (64 * 1024 + 1))]), "injection content is too long")
        self.assertInvalid(request(user_prompt="x" * 250000, system_prompt="y" * 250000,
                                   conversation_context="z" * 250000, injections=[("a", "w" * 60000)] * 10),
                           "too long")

    def test_path_traversal_presets(self):
        for bad in ("../x", "../../etc/passwd", "/etc/passwd", "", ".hidden", "a/b", "concise/..", ".."):
            with self.assertDBusError("NoSuchPrompt"):
                self.manager_call("GetSystemPrompt", GLib.Variant("(s)", (bad,)), "(s)")
            if bad:
                self.assertInvalid(request(system_prompt_id=bad), "No system prompt preset", "NoSuchPrompt")


class ConcurrencyTest(LabTestCase):
    def test_two_clients_two_runs(self):
        def scenario(req):
            prompt = req["messages"][-1]["content"]
            return Script(tokens=["%s-%d" % (prompt, i) for i in range(30)], token_interval_ms=5)

        self.server.scenario = scenario
        other = Gio.DBusConnection.new_for_address_sync(
            self.bus_address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(other.close_sync, None)
        other_chunks, other_done = [], []

        def on_signal(conn, sender, path, iface, member, params):
            if member == "Chunk":
                other_chunks.append((path, params.unpack()))
            elif member == "Finished":
                other_done.append(path)

        other.signal_subscribe(labtest.BUS_NAME, None, None, None, None, Gio.DBusSignalFlags.NONE, on_signal)
        path_b = other.call_sync(labtest.BUS_NAME, labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "StartRun",
                                 GLib.Variant.new_tuple(lab_dict(request(user_prompt="B"))), GLib.VariantType("(o)"),
                                 Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        path_a = self.start_run(request(user_prompt="A"))
        result, metrics, chunks = self.wait_run(path_a)
        self.pump_until(lambda: path_b in other_done, timeout=20, what="run B finished")
        self.assertEqual(result, "done")
        self.assertEqual(chunk_text(chunks)[0], "".join("A-%d" % i for i in range(30)))
        self.assertEqual("".join(c[1][1] for c in other_chunks if c[0] == path_b),
                         "".join("B-%d" % i for i in range(30)))
        # chunks are unicast: neither client saw the other's text
        self.assertFalse([c for c in other_chunks if c[0] == path_a])
        self.assertFalse([s for s in self.signals if s.member == "Chunk" and s.path == path_b])

    @lab_options(config_extra={"Daemon": {"MaxRunsPerUser": "2"}})
    def test_too_many_runs(self):
        self.server.scenario = Script(tokens=400, token_interval_ms=20)
        a = self.start_run(request())
        b = self.start_run(request())
        with self.assertDBusError("TooManyRuns"):
            self.start_run(request())
        self.call(a, labtest.RUN_IFACE, "Cancel")
        self.wait_run(a)
        c = self.start_run(request())  # a slot is free again
        for p in (b, c):
            self.call(p, labtest.RUN_IFACE, "Cancel")


if __name__ == "__main__":
    labtest.main()
