#!/usr/bin/python3
"""End to end against a real llama.cpp llama-server (tests/fixtures/llama_server.py) serving the
tiny random-weight model (tools/llama/make-tiny-model.py), as the daemon's OpenAI-compatible
backend: models, a streamed run equal to the server's own non-streamed completion, token counts
and timings exactly as the server sent them, cancellation freeing the server's only slot, two
clients on one server, phase energies from the server's timings under a constant simulated
power, and the token breakdown through /tokenize.

The server binary and model come from meson's `llama_fixture` target (LLAMA_FIXTURE_ENV). When
they cannot be built (no npm, no compiler), every test here FAILS with the reason: a missing
real server is a broken test environment, not a reason to skip.

Each test starts its own llama-server (127.0.0.1, a free port, -t 1, -np 1, --metrics) and
stops it in its cleanup: SIGTERM, a second SIGTERM after 1 s, SIGKILL after a grace period,
always reaped; the cleanup asserts that the process is gone.
"""

import json
import os
import re
import socket
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, lab_options, lab_dict, chunk_text  # noqa: E402
from llama_server import LlamaServer, LlamaServerError, find_llama  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

MODEL = "tiny"          # the server's --alias
N_CTX = 2048            # the tiny model's context (one slot: all of it)
POWER_W = 20.0          # the simulator's constant power in the energy test
PROMPT = "Explain in three sentences why measuring the energy of language-model inference matters."

# Words for long prompts (no repeated prefix that the prompt cache could serve).
_WORDS = ("energy counter token prefill decode model server watt joule sample phase window "
          "battery socket package memory cache context prompt answer").split()


def long_prompt(n_words, salt=0):
    return " ".join("%s%d" % (_WORDS[(i * 7 + salt) % len(_WORDS)], (i * 31 + salt) % 97) for i in range(n_words))


def parse_metrics(text):
    """Prometheus text -> {name: float}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# ------------------------------------------------------------------------------ recording proxy


def _split_messages(data, responses):
    """HTTP/1.1 messages of one direction of a connection: [(start line, headers, body)]. Bodies
    are de-chunked. An incomplete last message is returned as far as it got."""
    out, pos = [], 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
        pos = end + 4
        body = bytearray()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    pos = len(data)
                    break
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2
                if size == 0:
                    pos = data.find(b"\r\n", pos) + 2 if data.find(b"\r\n", pos) >= 0 else len(data)
                    break
                body += data[pos:pos + size]
                pos += size + 2
        elif "content-length" in headers:
            n = int(headers["content-length"])
            body += data[pos:pos + n]
            pos += n
        elif responses:
            body += data[pos:]  # read until close
            pos = len(data)
        out.append((head[0], headers, bytes(body)))
    return out


def sse_events(body):
    """The data of each SSE event of a body, JSON-decoded where possible ("[DONE]" as is)."""
    events = []
    for block in re.split(rb"\r?\n\r?\n", body):
        data = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            text = b"\n".join(data).decode("utf-8")
            events.append(text if text == "[DONE]" else json.loads(text))
    return events


class RecordingProxy:
    """A TCP relay in front of the server that keeps both directions of every connection, so a
    test can read exactly what the server sent the daemon (usage, timings)."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.connections = []  # [(client->server bytearray, server->client bytearray)]
        self.lock = threading.Lock()
        self.sockets = []
        self.threads = []
        self.stopping = False
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            record = (bytearray(), bytearray())
            with self.lock:
                self.connections.append(record)
                self.sockets += [client, server]
            for src, dst, buf in ((client, server, record[0]), (server, client, record[1])):
                thread = threading.Thread(target=self._pump, args=(src, dst, buf), daemon=True)
                thread.start()
                self.threads.append(thread)

    def _pump(self, src, dst, buf):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                buf += data
            try:
                dst.sendall(data)
            except OSError:
                return

    def exchanges(self, path):
        """[(request JSON, response status, response body)] of the requests to `path`."""
        out = []
        with self.lock:
            records = [(bytes(a), bytes(b)) for a, b in self.connections]
        for up, down in records:
            requests = _split_messages(up, False)
            responses = _split_messages(down, True)
            for (line, _, body), response in zip(requests, responses):
                if line.split(" ")[1] == path:
                    out.append((json.loads(body) if body else None, int(response[0].split(" ")[1]), response[2]))
        return out

    def stop(self):
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            sockets = list(self.sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for thread in self.threads:
            thread.join(5)


# ------------------------------------------------------------------------------ the test case


class LlamaTestCase(LabTestCase):
    """A real llama-server as the daemon's only backend, "llama" (Kind=openai); `proxy` puts a
    RecordingProxy between them."""

    llama_parallel = 1
    proxy = False

    def _start_fixtures(self):
        super()._start_fixtures()
        try:
            binary, model = find_llama()
        except LlamaServerError as err:
            self.fail("the real llama.cpp llama-server is not available: %s\n"
                      "It is built by tools/llama/build-llama-server.sh (meson target llama-fixture), which "
                      "needs npm, cmake, g++ and git (tools/dev.sh test installs them)." % err)
        self.llama = LlamaServer(binary, model, alias=MODEL, parallel=self.llama_parallel,
                                 extra_args=["--metrics"], log_path=os.path.join(self.tmpdir, "llama-server.log"))
        self.addCleanup(self._stop_llama)
        try:
            self.llama.start()
        except LlamaServerError as err:
            self.fail(str(err))
        self.recorder = None
        if self.proxy:
            self.recorder = RecordingProxy(self.llama.port)
            self.addCleanup(self.recorder.stop)

    def _stop_llama(self):
        pid = self.llama.pid
        if self._has_failed():
            sys.stderr.write("\n----- llama-server log (tail) -----\n%s\n-----\n" % self.llama.log_tail(40))
        self.llama.stop(grace=3.0)
        if pid is not None:
            with self.assertRaises(ProcessLookupError, msg="llama-server %d still exists" % pid):
                os.kill(pid, 0)

    def base_config(self):
        conf = super().base_config()
        del conf["Backend ollama"]
        url = self.recorder.url if self.recorder else self.llama.url
        return dict({"Backend llama": {"Kind": "openai", "Url": url}}, **conf)

    def request(self, **kw):
        r = {"model": MODEL, "user_prompt": PROMPT, "temperature": 0.0, "seed": 42, "max_tokens": 32}
        r.update(kw)
        return r

    def run_done(self, request, timeout=60.0):
        result, metrics, chunks = self.run_to_end(request, timeout)
        self.assertEqual(result, "done", metrics.get("error"))
        return metrics, chunks

    def server_metrics(self):
        return parse_metrics(self.llama.request("GET", "/metrics")[1].decode("utf-8"))

    def server_completion(self, messages, **kw):
        """The server's own non-streamed completion, asked directly over HTTP."""
        body = {"model": MODEL, "messages": messages, "stream": False}
        body.update(kw)
        return self.llama.post_json("/v1/chat/completions", body)

    def server_count(self, text, add_special=False):
        return len(self.llama.post_json("/tokenize", {"content": text, "add_special": add_special})["tokens"])


class LlamaModelsTest(LlamaTestCase):
    def test_models_listed(self):
        served = self.llama.get_json("/v1/models")["data"]
        models = self.manager_call("ListModels", GLib.Variant.new_tuple(lab_dict({})), "(aa{sv})")
        self.assertEqual(len(models), 1)
        self.assertEqual(models[0]["name"], served[0]["id"])
        self.assertEqual(models[0]["name"], MODEL)
        self.assertEqual(models[0]["backend"], "llama")
        self.assertEqual(models[0]["context_length"], served[0]["meta"]["n_ctx_train"])
        self.assertEqual(models[0]["parameter_count"], served[0]["meta"]["n_params"])
        info = self.manager_call("GetModelInfo", GLib.Variant("(sa{sv})", (MODEL, {})), "(a{sv})")
        self.assertEqual(info["name"], MODEL)
        self.assertEqual(info["context_length"], N_CTX)
        # /props: the context actually allocated per slot
        props = self.llama.get_json("/props")
        self.assertEqual(info["slot_context_length"], props["default_generation_settings"]["n_ctx"])
        self.assertEqual(info["server_build"], props["build_info"])
        # reachable by /health, and the CLI lists it
        backends = self.pump_until(
            lambda: [b for b in self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Backends")
                     if b.get("reachable")], 10, "the backend probed reachable")
        self.assertEqual(backends[0]["id"], "llama")
        out = json.loads(self.ctl("--json=short", "models").stdout)
        self.assertEqual([(m["name"], m["backend"]) for m in out], [(MODEL, "llama")])


class LlamaStreamTest(LlamaTestCase):
    def test_streamed_transcript_equals_server_completion(self):
        path = self.start_run(self.request(max_tokens=48))
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "done", metrics.get("error"))
        answer, thinking = self.call(path, labtest.RUN_IFACE, "GetTranscript", None, "(ss)")
        # the same request, not streamed, straight to the server (the prompt evaluated afresh)
        direct = self.server_completion([{"role": "user", "content": PROMPT}], temperature=0.0, seed=42,
                                        max_tokens=48, cache_prompt=False)
        self.assertEqual(answer, direct["choices"][0]["message"]["content"])
        self.assertEqual(thinking, "")
        self.assertEqual(chunk_text(chunks), (answer, ""))
        self.assertEqual([c[0] for c in chunks], list(range(1, len(chunks) + 1)))
        self.assertGreater(len(answer), 48)  # real text, one word piece per token
        self.assertEqual(metrics["tokens"]["input"], direct["usage"]["prompt_tokens"])
        self.assertEqual(metrics["tokens"]["output"], direct["usage"]["completion_tokens"])
        self.assertEqual(metrics["tokens"]["output"], 48)  # the model never samples EOS
        self.assertEqual(metrics["done_reason"], direct["choices"][0]["finish_reason"])
        self.assertEqual(metrics["done_reason"], "length")
        # the CLI prints the same answer, byte for byte
        proc = self.ctl("run", "-m", MODEL, "-p", PROMPT, "-t", "0", "--seed", "42", "-n", "48", "--quiet")
        self.assertEqual(proc.stdout.rstrip("\n"), answer)

    def test_system_prompt_and_seeded_sampling(self):
        messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]
        metrics, chunks = self.run_done(self.request(system_prompt="You are terse.", temperature=0.9, seed=7,
                                                     max_tokens=24))
        direct = self.server_completion(messages, temperature=0.9, seed=7, max_tokens=24, cache_prompt=False)
        self.assertEqual(chunk_text(chunks)[0], direct["choices"][0]["message"]["content"])
        self.assertEqual(metrics["tokens"]["input"], direct["usage"]["prompt_tokens"])


class LlamaNumbersTest(LlamaTestCase):
    proxy = True

    def final_chunk(self, index):
        """usage and timings of the index-th chat stream, as the server sent them."""
        exchanges = self.recorder.exchanges("/v1/chat/completions")
        request, status, body = exchanges[index]
        self.assertEqual(status, 200)
        events = sse_events(body)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(request["stream_options"], {"include_usage": True})
        final = events[-2]
        self.assertEqual(final["choices"], [])
        return request, final["usage"], final["timings"]

    def test_token_counts_and_timings_from_the_server(self):
        metrics, _ = self.run_done(self.request(max_tokens=40))
        request, usage, timings = self.final_chunk(0)
        self.assertTrue(request["stream"])
        self.assertEqual((request["temperature"], request["seed"], request["max_tokens"]), (0.0, 42, 40))
        tokens, timing = metrics["tokens"], metrics["timing"]
        self.assertEqual(tokens["input"], usage["prompt_tokens"])
        self.assertEqual(tokens["output"], usage["completion_tokens"])
        self.assertEqual(tokens["output"], timings["predicted_n"])
        self.assertEqual(tokens["cached"], timings["cache_n"])
        self.assertEqual(tokens["input"], timings["prompt_n"] + timings["cache_n"])
        self.assertEqual(tokens["input"], self.server_count("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"
                                                            % PROMPT, add_special=True))
        self.assertAlmostEqual(timing["prefill_ms"], timings["prompt_ms"], places=6)
        self.assertAlmostEqual(timing["decode_ms"], timings["predicted_ms"], places=6)
        # the prefill and decode windows end at the final chunk and fit in the time since the request
        self.assertLess(timing["prefill_ms"] + timing["decode_ms"], timing["e2e_ms"])
        self.assertAlmostEqual(timing["tpot_ms"], timing["decode_ms"] / (tokens["output"] - 1), places=6)

        # the same prompt again: the server serves it from its prompt cache and says so
        metrics, _ = self.run_done(self.request(max_tokens=40))
        _, usage, timings = self.final_chunk(1)
        self.assertGreater(timings["cache_n"], 0)
        self.assertEqual(metrics["tokens"]["cached"], timings["cache_n"])
        self.assertEqual(metrics["tokens"]["input"], usage["prompt_tokens"])
        self.assertEqual(metrics["tokens"]["input"], timings["prompt_n"] + timings["cache_n"])
        self.assertAlmostEqual(metrics["timing"]["prefill_ms"], timings["prompt_ms"], places=6)


class LlamaCancelTest(LlamaTestCase):
    def test_cancel_frees_the_slot(self):
        before = self.server_metrics()
        # 1900 tokens take the one slot for over a second
        path = self.start_run(self.request(max_tokens=1900))
        self.wait_for_signal("Chunk", path=path, interface=labtest.RUN_IFACE, timeout=30)
        self.call(path, labtest.RUN_IFACE, "Cancel")
        result, metrics, chunks = self.wait_run(path)
        self.assertEqual(result, "cancelled")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + "Cancelled")
        # at once, a following run on the same (only) slot
        metrics, chunks = self.run_done(self.request(max_tokens=8))
        self.assertEqual(metrics["tokens"]["output"], 8)
        after = self.server_metrics()
        # the server stopped generating for the cancelled run: far fewer than 1900 + 8 tokens
        predicted = after["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"]
        self.assertLess(predicted, 1000)
        self.assertGreaterEqual(predicted, 8)
        self.assertEqual(after["llamacpp:requests_processing"], 0)
        slots = self.llama.get_json("/slots")
        self.assertEqual([s["is_processing"] for s in slots], [False])
        self.assertIn("cancel task", self.llama.log_text())

    def test_owner_leaving_cancels_on_the_server(self):
        other = Gio.DBusConnection.new_for_address_sync(
            self.bus_address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        path = other.call_sync(labtest.BUS_NAME, labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "StartRun",
                               GLib.Variant.new_tuple(lab_dict(self.request(max_tokens=1900))),
                               GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        self.pump_until(lambda: self.get_property(path, labtest.RUN_IFACE, "State") == "decoding", 30,
                        "the run decoding")
        other.close_sync(None)
        self.pump_until(lambda: self.get_property(path, labtest.RUN_IFACE, "State") == "cancelled", 10,
                        "the run cancelled")
        metrics, _ = self.run_done(self.request(max_tokens=8))
        self.assertEqual(metrics["tokens"]["output"], 8)
        self.assertLess(self.server_metrics()["llamacpp:tokens_predicted_total"], 1000)


class LlamaServerGoneTest(LlamaTestCase):
    def test_server_stopped_mid_stream(self):
        path = self.start_run(self.request(max_tokens=1900))
        self.wait_for_signal("Chunk", path=path, interface=labtest.RUN_IFACE, timeout=30)
        pid = self.llama.pid
        self.llama.stop(grace=3.0)  # SIGTERM, and a second one: the server would wait 30 s otherwise
        result, metrics, chunks = self.wait_run(path, timeout=30)
        self.assertEqual(result, "failed")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + "BackendError")
        self.assertRegex(metrics["error"]["message"], "truncated|closed")
        self.assertNotIn("output", metrics["tokens"])  # no counts from a cut stream
        self.assertGreater(metrics["tokens"]["pieces"], 0)
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        # the daemon carries on: the backend is now unreachable, and says so
        result, metrics, chunks = self.run_to_end(self.request())
        self.assertEqual(result, "failed")
        self.assertEqual(metrics["error"]["name"], labtest.ERROR_PREFIX + "BackendUnavailable")


class LlamaTwoClientsTest(LlamaTestCase):
    def test_two_clients_one_server(self):
        other = Gio.DBusConnection.new_for_address_sync(
            self.bus_address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.addCleanup(other.close_sync, None)
        other_chunks, other_done = [], {}

        def on_signal(conn, sender, path, iface, member, params):
            if member == "Chunk":
                other_chunks.append((path, params.unpack()))
            elif member == "Finished":
                other_done[path] = params.unpack()

        other.signal_subscribe(labtest.BUS_NAME, None, None, None, None, Gio.DBusSignalFlags.NONE, on_signal)
        prompt_b = "Name three uses of a thermometer."
        path_b = other.call_sync(labtest.BUS_NAME, labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "StartRun",
                                 GLib.Variant.new_tuple(lab_dict(self.request(user_prompt=prompt_b,
                                                                              max_tokens=300))),
                                 GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        path_a = self.start_run(self.request(max_tokens=300))
        result, metrics_a, chunks_a = self.wait_run(path_a)
        self.assertEqual(result, "done", metrics_a.get("error"))
        self.pump_until(lambda: path_b in other_done, 60, "run B finished")
        result_b, metrics_b = other_done[path_b]
        self.assertEqual(result_b, "done", metrics_b.get("error"))
        # both complete and exact; each the server's own answer to its prompt
        self.assertEqual((metrics_a["tokens"]["output"], metrics_b["tokens"]["output"]), (300, 300))
        for chunks, prompt in ((chunk_text(chunks_a)[0], PROMPT),
                               ("".join(c[1][1] for c in other_chunks if c[0] == path_b), prompt_b)):
            direct = self.server_completion([{"role": "user", "content": prompt}], temperature=0.0, seed=42,
                                            max_tokens=300, cache_prompt=False)
            self.assertEqual(chunks, direct["choices"][0]["message"]["content"])
        # chunks are unicast: neither client saw the other's text
        self.assertFalse([c for c in other_chunks if c[0] == path_a])
        self.assertFalse([s for s in self.signals if s.member == "Chunk" and s.path == path_b])
        # the runs overlapped in the daemon (unmeasured runs are not queued), and each result says so
        self.assertEqual((metrics_a["provenance"]["concurrent_runs"], metrics_b["provenance"]["concurrent_runs"]),
                         (1, 1))


class LlamaEnergyTest(LlamaTestCase):
    @lab_options(powersim={"layout": "amd",
                           "profile": {"idle": POWER_W, "load": POWER_W, "prefill": POWER_W, "decode": POWER_W}})
    def test_phase_energy_from_server_timings(self):
        # The simulator's counters are only as fresh as its writer process: on a loaded machine
        # (llama-server keeps one of two CPUs busy) a writer waiting 20 ms for a CPU would move
        # energy between adjacent phases. Real RAPL counters never stall, so give the writer
        # real-time priority where allowed (root).
        try:
            os.sched_setscheduler(self.sim._proc.pid, os.SCHED_FIFO, os.sched_param(10))
        except (OSError, AttributeError) as err:
            sys.stderr.write("could not raise the power simulator's priority: %s\n" % err)
        # a long prompt so that prefill lasts tens of milliseconds even on this tiny model
        prompt = long_prompt(500)
        metrics, _ = self.run_done(self.request(user_prompt=prompt, max_tokens=200, measure="live"))
        energy, timing, tokens = metrics["energy"], metrics["timing"], metrics["tokens"]
        self.assertTrue(energy["measured"])
        self.assertEqual(energy["split_method"], "server-timings")
        self.assertEqual(tokens["output"], 200)
        self.assertGreater(tokens["input"], 1000)

        def expected_wh(ms):
            return POWER_W * ms / 1000.0 / 3600.0

        def check(phase, ms):
            # 2 % plus 5 ms of the constant power: the simulator's counters lag by a 1 ms tick, more
            # when its writer process waits for a CPU (this machine has two, one busy generating)
            want = expected_wh(ms)
            self.assertAlmostEqual(energy[phase + "_wh"], want, delta=0.02 * want + expected_wh(5.0),
                                   msg="%s: %.3e Wh measured, %.3e Wh = %.0f W x %.3f ms expected"
                                   % (phase, energy[phase + "_wh"], want, POWER_W, ms))

        self.assertGreater(timing["prefill_ms"], 40.0)
        # load: the rest of the time from the request to the final chunk (llama.cpp reports no load)
        load_ms = timing["e2e_ms"] - timing["prefill_ms"] - timing["decode_ms"]
        self.assertGreaterEqual(load_ms, 0.0)
        check("prefill", timing["prefill_ms"])
        check("decode", timing["decode_ms"])
        check("load", load_ms)
        check("total", timing["e2e_ms"])
        self.assertAlmostEqual(energy["load_wh"] + energy["prefill_wh"] + energy["decode_wh"], energy["total_wh"],
                               delta=1e-9)
        # the headline figures follow from the measured ones
        self.assertAlmostEqual(energy["wh_per_1000_etokens"], energy["total_wh"] / 200 * 1000, delta=1e-12)
        self.assertAlmostEqual(energy["prefill_wh_per_1000_input_tokens"],
                               energy["prefill_wh"] / tokens["input"] * 1000, delta=1e-12)


class LlamaBreakdownTest(LlamaTestCase):
    proxy = True

    def test_token_breakdown_adds_up_to_the_server_prompt_count(self):
        system, context, user = "You are a careful assistant.", "<user>hi</user><assistant>hello</assistant>", PROMPT
        injections = [("memory", "The user measures energy with RAPL."), ("doc", "Prefill is compute bound.")]
        metrics, _ = self.run_done(self.request(system_prompt=system, conversation_context=context,
                                                injections=injections, max_tokens=16))
        bd = metrics["breakdown"]
        self.assertEqual(bd["method"], "tokenizer")
        self.assertTrue(bd["exact"])
        parts = bd["input"]
        # the server's own count of this very request
        request, status, body = self.recorder.exchanges("/v1/chat/completions")[0]
        final = sse_events(body)[-2]
        self.assertEqual(parts["total"], final["usage"]["prompt_tokens"])
        self.assertEqual(metrics["tokens"]["input"], final["usage"]["prompt_tokens"])
        self.assertEqual(parts["user"] + parts["system"] + parts["context"] + parts["injections"] + parts["template"],
                         parts["total"])
        # each part is the server's tokenizer count of that text
        self.assertEqual(parts["user"], self.server_count(user))
        self.assertEqual(parts["system"], self.server_count(system))
        self.assertGreater(parts["context"], self.server_count(context))  # with its wrapper tags
        self.assertGreater(parts["injections"], self.server_count(injections[0][1]) +
                           self.server_count(injections[1][1]))
        self.assertGreater(parts["template"], 0)  # BOS and the ChatML markers
        self.assertEqual(bd["injected"], parts["system"] + parts["context"] + parts["injections"])
        self.assertEqual(metrics["tokens"]["injected"], bd["injected"])
        # the tokenizer was asked (and only for the non-empty parts), by the daemon
        tokenized = [r["content"] for r, s, _ in self.recorder.exchanges("/tokenize")]
        self.assertIn(user, tokenized)
        self.assertIn(system, tokenized)
        self.assertEqual(len(tokenized), 4)


if __name__ == "__main__":
    labtest.main()
