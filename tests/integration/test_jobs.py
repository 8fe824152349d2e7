#!/usr/bin/python3
"""Lab workflows end to end (issue 4): batches with statistics, calibration, the crossover finder,
the token breakdown, model comparison and job ownership, against the real llmlabd, the fake Ollama
server and the power simulator.

Known truths. Batch statistics are recomputed from the job's stored runs with Python's statistics
module and a Student t table. Calibration and the crossover finder run on a fake server scripted so
that prefill time is proportional to the prompt's tokens and decode time to the output tokens
(Script.steady_pace), while the simulator draws its prefill and decode powers: the true energy per
input token is P_prefill × prefill time per token, per output token P_decode × time per token. The
token breakdown is checked against the fake server's deterministic tokenizer.
"""

import math
import os
import re
import statistics
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, Script, lab_options, lab_dict, chunk_text  # noqa: E402
from fake_llm_server import count_prompt_tokens, fake_tokenize, word_pieces  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

MODEL = "qwen3:0.6b"             # a thinking model of the fake server
PLAIN_MODEL = "llama3.2:latest"  # no thinking capability
SMALL_MODEL = "gemma3:270m"
TOLERANCE_REL = 0.01
TOLERANCE_WH = 0.001

# Two-sided 95 % quantiles of Student's t distribution, by degrees of freedom.
T975 = {1: 12.706204736174707, 2: 4.302652729749464, 3: 3.182446305284263, 4: 2.7764451051977934,
        5: 2.570581835636314, 6: 2.4469118511449692, 7: 2.3646242515927844, 8: 2.306004135204166,
        9: 2.2621571628540993, 10: 2.2281388519649385}

# Batch summary metrics → (result section, key).
BATCH_METRICS = {
    "wh_per_1000_etokens": ("energy", "wh_per_1000_etokens"),
    "total_wh": ("energy", "total_wh"),
    "net_total_wh": ("energy", "net_total_wh"),
    "prefill_wh_per_1000_input_tokens": ("energy", "prefill_wh_per_1000_input_tokens"),
    "decode_wh_per_1000_output_tokens": ("energy", "decode_wh_per_1000_output_tokens"),
    "ttft_ms": ("timing", "ttft_ms"),
    "tokens_per_s": ("timing", "tokens_per_s"),
    "input_tokens": ("tokens", "input"),
    "output_tokens": ("tokens", "output"),
}


def is_probe(body):
    """The daemon's token-breakdown probes (Ollama prompt counts) are non-streamed chats."""
    return isinstance(body, dict) and body.get("stream") is False


def with_quick_probes(script):
    """A scenario: `script` (a Script or callable(body)) for streamed chats; breakdown probes get an
    instant one-token answer so that they never spend simulated energy or time."""
    def scenario(body):
        if is_probe(body):
            return Script(tokens=1)
        return script(body) if callable(script) and not isinstance(script, Script) else script
    return scenario


def user_text(body):
    return body["messages"][-1]["content"]


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def expected_stats(values):
    """The batch statistics of `values` (n ≥ 2): sample std, t-based CI, linear percentiles."""
    n = len(values)
    mean = statistics.mean(values)
    std = statistics.stdev(values)
    half = T975[n - 1] * std / math.sqrt(n)
    q = statistics.quantiles(values, n=20, method="inclusive")  # linear interpolation, 5 % steps
    out = {"n": n, "mean": mean, "median": statistics.median(values), "std": std, "ci95_low": mean - half,
           "ci95_high": mean + half, "p5": q[0], "p95": q[-1], "min": min(values), "max": max(values)}
    if mean != 0:
        out["cv"] = std / mean
    return out


def longest_common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class JobCase(LabTestCase):
    # --- jobs

    def start_job(self, method, request, options=None):
        return self.manager_call(method, GLib.Variant.new_tuple(lab_dict(request), lab_dict(options or {})), "(o)")

    def start_comparison(self, request, panes, options=None):
        panes = GLib.Variant.new_array(GLib.VariantType("a{sv}"), [lab_dict(p) for p in panes])
        args = GLib.Variant.new_tuple(lab_dict(request), panes, lab_dict(options or {}))
        return self.manager_call("StartComparison", args, "(o)")

    def wait_job(self, path, timeout=90):
        sig = self.wait_for_signal("Finished", path=path, interface=labtest.JOB_IFACE, timeout=timeout)
        return sig.args[0], sig.args[1]

    def job_property(self, path, name):
        return self.get_property(path, labtest.JOB_IFACE, name)

    def run_property(self, path, name):
        return self.get_property(path, labtest.RUN_IFACE, name)

    def list_runs(self, **flt):
        return self.manager_call("ListRuns", GLib.Variant.new_tuple(lab_dict(flt)), "(aa{sv})")

    def benchmarks(self):
        return {b["id"]: b for b in self.manager_call("ListBenchmarks", None, "(aa{sv})")}

    # --- the server

    def streamed_chats(self):
        return [c for c in self.server.chats if not is_probe(c.request.body)]

    def wait_idle_power(self, timeout=20):
        return self.pump_until(lambda: self.manager_call("GetEnergyStatus", None, "(a{sv})").get("idle_w"), timeout,
                               "an idle power")

    def truth_wh(self, t0, t1):
        return self.sim.energy_j(t0, t1) / 3600.0

    def phase(self, chat, name):
        return [(t0, t1) for n, t0, t1 in chat.phases if n == name][0]


class BatchTest(JobCase):
    powersim = True

    # The warm-up run generates 30 tokens, the measured ones 12, 20, 16 and 25: including the
    # warm-up would change every statistic.
    TOKENS = [30, 12, 20, 16, 25]

    def setUp(self):
        self._tokens = iter(self.TOKENS * 2)
        self.scenario = with_quick_probes(
            lambda body: Script(tokens=next(self._tokens), load_ms=30, prefill_ms=60, token_interval_ms=10))
        super().setUp()

    def test_statistics_equal_those_of_the_stored_runs(self):
        self.wait_idle_power()
        job = self.start_job("StartBatch", {"model": MODEL, "user_prompt": "Summarise the water cycle.",
                                            "measure": "live"}, {"runs": 4, "warmup": 1, "idle_ms": 500})
        self.assertEqual(self.job_property(job, "Kind"), "batch")
        result, summary = self.wait_job(job)
        self.assertEqual(result, "done", summary)
        self.assertEqual(self.job_property(job, "State"), "done")
        self.assertEqual(self.job_property(job, "Progress"), (5, 5))
        self.assertEqual(self.job_property(job, "Summary"), summary)
        self.assertEqual((summary["n"], summary["warmup"], summary["requested"], summary["failed"]), (4, 1, 4, 0))
        self.assertTrue(abs(summary["idle_w"] - 8.0) <= 0.08, summary["idle_w"])

        # The stored runs of the job, warm-up included and flagged.
        job_id = self.job_property(job, "Id")
        stored = sorted(self.list_runs(job=job_id, include_warmup=True), key=lambda r: r["run"])
        self.assertEqual(len(stored), 5)
        self.assertEqual([r["run"] for r in stored],
                         [self.run_property(p, "Id") for p in self.job_property(job, "Runs")])
        self.assertEqual([r["warmup"] for r in stored], [True, False, False, False, False])
        self.assertEqual([r["tokens"]["output"] for r in stored], self.TOKENS)
        self.assertTrue(all(r["job"] == job_id and r["state"] == "done" and r["energy"]["measured"] for r in stored))
        self.assertEqual(sorted(r["run"] for r in self.list_runs(job=job_id)), [r["run"] for r in stored])
        # Outside a job filter, warm-up runs are left out unless asked for.
        self.assertEqual(sorted(r["run"] for r in self.list_runs()), [r["run"] for r in stored[1:]])
        self.assertEqual(sorted(r["run"] for r in self.list_runs(include_warmup=True)), [r["run"] for r in stored])
        self.assertEqual(summary["runs"], [r["run"] for r in stored])

        measured = stored[1:]
        for name, (section, key) in BATCH_METRICS.items():
            values = [r[section][key] for r in measured]
            want = expected_stats(values)
            got = summary[name]
            self.assertEqual(sorted(got), sorted(want), name)
            for stat, value in want.items():
                self.assertTrue(close(got[stat], value), "%s.%s: %r, recomputed %r" % (name, stat, got[stat], value))
        # Including the warm-up run would have given other numbers.
        self.assertNotAlmostEqual(statistics.mean(r["tokens"]["output"] for r in stored),
                                  summary["output_tokens"]["mean"])
        self.assertEqual(summary["input_tokens"]["std"], 0.0)

    def test_bust_cache_gives_distinct_prompts(self):
        prompt = "Explain prompt caching."
        job = self.start_job("StartBatch", {"model": MODEL, "user_prompt": prompt},
                             {"runs": 3, "warmup": 1, "bust_cache": True})
        result, summary = self.wait_job(job)
        self.assertEqual(result, "done", summary)
        self.assertIs(summary["bust_cache"], True)
        prompts = [user_text(c.request.body) for c in self.streamed_chats()]
        self.assertEqual(len(prompts), 4)
        self.assertEqual(len(set(prompts)), 4)
        nonces = []
        for p in prompts:
            m = re.fullmatch(r"(\[run [0-9a-f]{16}\]\n)" + re.escape(prompt), p)
            self.assertIsNotNone(m, p)
            nonces.append(m.group(1))
        self.assertEqual(len(set(nonces)), 4)

        # Without the option every run sends the same prompt.
        job = self.start_job("StartBatch", {"model": MODEL, "user_prompt": prompt}, {"runs": 2, "warmup": 1})
        self.assertEqual(self.wait_job(job)[0], "done")
        self.assertEqual([user_text(c.request.body) for c in self.streamed_chats()[4:]], [prompt] * 3)

    def test_cancel_mid_batch_keeps_the_finished_runs(self):
        self.server.scenario = with_quick_probes(Script(tokens=40, load_ms=20, prefill_ms=20, token_interval_ms=25))
        job = self.start_job("StartBatch", {"model": MODEL, "user_prompt": "Long batch", "measure": "live"},
                             {"runs": 5, "warmup": 0, "idle_ms": 0})
        # Once two runs are done and the third is streaming, cancel.
        self.wait_for_signal("Progress", path=job, interface=labtest.JOB_IFACE, timeout=30,
                             match=lambda args: args[0] == 2 and args[2] != "/")
        third = self.job_property(job, "Runs")[2]
        self.pump_until(lambda: self.run_property(third, "State") == "decoding", 20, "the third run streaming")
        self.call(job, labtest.JOB_IFACE, "Cancel")
        result, summary = self.wait_job(job)
        self.assertEqual(result, "cancelled")
        self.assertEqual(self.job_property(job, "State"), "cancelled")
        self.assertEqual(self.job_property(job, "Error")[0], "org.llmlab.Lab1.Error.Cancelled")
        self.assertEqual(summary["n"], 2)
        self.server.wait_cancelled(1)

        stored = sorted(self.list_runs(job=self.job_property(job, "Id")), key=lambda r: r["run"])
        self.assertEqual([r["state"] for r in stored], ["done", "done", "cancelled"])
        self.assertEqual(len(self.job_property(job, "Runs")), 3)
        self.assertEqual(len(self.streamed_chats()), 3)
        for r in stored[:2]:
            self.assertTrue(r["energy"]["measured"])
            self.assertEqual(r["tokens"]["output"], 40)
        self.assertEqual(self.run_property(third, "State"), "cancelled")


class CalibrationTest(JobCase):
    """The fitted per-token energies are the simulator's: P_prefill × s per input token and
    P_decode × s per output token (default profile: prefill 65 W, decode 30 W)."""

    powersim = True

    def scripted(self, prefill_ms_per_token, decode_ms_per_token):
        def script(body):
            tokens = count_prompt_tokens(body["messages"])
            return Script(tokens=400, load_ms=50, prefill_ms=prefill_ms_per_token * tokens,
                          token_interval_ms=decode_ms_per_token, steady_pace=True)
        self.server.scenario = with_quick_probes(script)
        p = self.sim.profile
        return (p["prefill"] * prefill_ms_per_token / 1000 * 1000 / 3600,  # Wh per 1000 input tokens
                p["decode"] * decode_ms_per_token / 1000 * 1000 / 3600)    # Wh per 1000 output tokens

    def calibrate(self, truth_a, truth_b, decode_ms_per_token):
        n_chats = len(self.streamed_chats())
        job = self.start_job("Calibrate", {"model": MODEL, "user_prompt": "Describe the sea.", "measure": "live"},
                             {"runs": 8})
        self.assertEqual(self.job_property(job, "Kind"), "calibration")
        result, summary = self.wait_job(job, timeout=120)
        self.assertEqual(result, "done", (summary, self.job_property(job, "Error")))
        chats = self.streamed_chats()[n_chats:]
        self.assertEqual(len(chats), 8)
        # The script did what the truth assumes: decode took (tokens - 1) intervals, and inputs and
        # outputs varied.
        for c in chats:
            expect_ns = (c.metrics["eval_count"] - 1) * decode_ms_per_token * 1e6
            self.assertLess(abs(c.metrics["eval_duration"] - expect_ns), 0.01 * expect_ns + 2e6, c.metrics)
        self.assertGreater(len({c.metrics["prompt_eval_count"] for c in chats}), 4)
        self.assertGreater(len({c.metrics["eval_count"] for c in chats}), 4)

        bid = "calibrated:" + MODEL
        self.assertEqual(summary["benchmark"], bid)
        self.assertEqual(summary["n"], 8)
        self.assertGreater(summary["r2"], 0.99)
        for key, truth in (("wh_per_1000_input_tokens", truth_a), ("wh_per_1000_output_tokens", truth_b)):
            self.assertLess(abs(summary[key] - truth), 0.05 * truth,
                            "%s: fitted %.6f, truth %.6f" % (key, summary[key], truth))
        b = self.benchmarks()[bid]
        for key in ("wh_per_1000_input_tokens", "wh_per_1000_output_tokens", "r2", "n", "intercept_wh"):
            self.assertEqual(b[key], summary[key], key)
        self.assertFalse(b["builtin"])
        return summary

    def test_calibration_recovers_the_true_per_token_energies(self):
        self.wait_idle_power()
        truth_a, truth_b = self.scripted(prefill_ms_per_token=1.0, decode_ms_per_token=4.0)
        first = self.calibrate(truth_a, truth_b, 4.0)

        # Re-calibration (the machine got slower at decoding, faster at prefill) updates the benchmark.
        truth_a2, truth_b2 = self.scripted(prefill_ms_per_token=0.5, decode_ms_per_token=6.0)
        second = self.calibrate(truth_a2, truth_b2, 6.0)
        self.assertNotAlmostEqual(first["wh_per_1000_output_tokens"], second["wh_per_1000_output_tokens"], places=4)
        calibrated = [k for k, b in self.benchmarks().items() if k.startswith("calibrated:")]
        self.assertEqual(calibrated, ["calibrated:" + MODEL])

        # The calibrated benchmark estimates runs of that model.
        self.server.scenario = Script(tokens=20)
        result, metrics, _ = self.run_to_end({"model": MODEL, "user_prompt": "Estimate me.", "measure": "estimate",
                                              "benchmark": "calibrated:" + MODEL})
        self.assertEqual(result, "done")
        n_in, n_out = metrics["tokens"]["input"], metrics["tokens"]["output"]
        expect = (n_in * second["wh_per_1000_input_tokens"] + n_out * second["wh_per_1000_output_tokens"]) / 1000 \
            + second["intercept_wh"]
        self.assertTrue(close(metrics["energy"]["total_wh"], expect), (metrics["energy"]["total_wh"], expect))

    @lab_options(powersim={"layout": "absent"})
    def test_calibration_needs_counters(self):
        with self.assertDBusError("EnergyUnavailable"):
            self.start_job("Calibrate", {"model": MODEL, "user_prompt": "x", "measure": "live"}, {"runs": 8})


class CrossoverTest(JobCase):
    """Prefill costs 65 W × 1 ms per input token, decode 30 W × 40 × 25 ms = 30 J: prefill overtakes
    decode at about 460 input tokens. Steps of 100 + 150 k filler words (plus 10 tokens of prompt
    and template) cross at the fourth step, with margins of 11 % and 21 % on either side."""

    powersim = True
    PREFILL_MS_PER_TOKEN = 1.0
    MAX_TOKENS = 41
    DECODE_MS = 25.0

    def setUp(self):
        def script(body):
            tokens = count_prompt_tokens(body["messages"])
            return Script(tokens=200, load_ms=50, prefill_ms=self.PREFILL_MS_PER_TOKEN * tokens,
                          token_interval_ms=self.DECODE_MS, steady_pace=True)
        self.scenario = with_quick_probes(script)
        super().setUp()

    def test_crossover_at_the_simulated_step(self):
        prompt = "Which phase costs more?"
        job = self.start_job("StartCrossover", {"model": MODEL, "user_prompt": prompt, "measure": "live",
                                                "max_tokens": self.MAX_TOKENS},
                             {"start_tokens": 100, "step_tokens": 150, "max_steps": 8})
        self.assertEqual(self.job_property(job, "Kind"), "crossover")
        result, summary = self.wait_job(job, timeout=100)
        self.assertEqual(result, "done", summary)
        chats = self.streamed_chats()

        # Where the simulator puts the crossover: the first step whose true prefill energy exceeds
        # its true decode energy.
        truth = []
        for c in chats:
            pre = self.truth_wh(*self.phase(c, "prefill"))
            dec = self.truth_wh(*self.phase(c, "decode"))
            truth.append((c.metrics["prompt_eval_count"], pre, dec))
        expected_step = next(i for i, (_, pre, dec) in enumerate(truth) if pre > dec) + 1
        self.assertEqual(expected_step, 4, truth)
        self.assertLess(truth[2][1], 0.95 * truth[2][2])  # clear margins on either side
        self.assertGreater(truth[3][1], 1.05 * truth[3][2])

        # The finder stopped there.
        self.assertIs(summary["crossed"], True)
        self.assertEqual(summary["crossover_step"], expected_step)
        self.assertEqual(len(chats), expected_step)
        steps = summary["steps"]
        self.assertEqual([s["crossed"] for s in steps], [False] * (expected_step - 1) + [True])
        self.assertEqual([s["target_tokens"] for s in steps], [100 + 150 * i for i in range(expected_step)])
        for s, c, (n_in, pre, dec) in zip(steps, chats, truth):
            self.assertEqual(s["input_tokens"], n_in)
            self.assertEqual(s["output_tokens"], self.MAX_TOKENS)
            for key, t in (("prefill_wh", pre), ("decode_wh", dec)):
                self.assertLessEqual(abs(s[key] - t), max(TOLERANCE_REL * t, TOLERANCE_WH), (key, s[key], t))
            self.assertTrue(s["measured"])

        # The crossover point interpolates the last two steps; the truth is linear in the tokens.
        (x0, p0, d0), (x1, p1, d1) = [(s["input_tokens"], s["prefill_wh"], s["decode_wh"]) for s in steps[-2:]]
        interpolated = x0 + (x1 - x0) * (d0 - p0) / ((p1 - d1) + (d0 - p0))
        self.assertTrue(close(summary["crossover_input_tokens"], interpolated), summary["crossover_input_tokens"])
        (tx0, tp0, td0), (tx1, tp1, td1) = truth[-2:]
        true_point = tx0 + (tx1 - tx0) * (td0 - tp0) / ((tp1 - td1) + (td0 - tp0))
        self.assertLess(abs(summary["crossover_input_tokens"] - true_point), 0.05 * true_point)

        # num_ctx pinned for the whole job (every request, probes included), max_tokens too.
        bodies = [c.request.body for c in self.server.chats]
        self.assertEqual({b["options"].get("num_ctx") for b in bodies}, {summary["num_ctx"]})
        self.assertGreaterEqual(summary["num_ctx"], 2 * max(n for n, _, _ in truth))
        self.assertEqual({c.request.body["options"]["num_predict"] for c in chats}, {self.MAX_TOKENS})
        # Non-repeating filler: no step's prompt extends another's (a prompt cache could reuse it).
        prompts = [user_text(c.request.body) for c in chats]
        for i in range(len(prompts)):
            self.assertTrue(prompts[i].endswith("\n\n" + prompt))
            for j in range(i):
                self.assertLess(longest_common_prefix(prompts[i], prompts[j]), 40, (i, j))
            words = prompts[i][:-len(prompt)].split()
            self.assertEqual(len(words), 100 + 150 * i)


class BreakdownTest(JobCase):
    scenario = staticmethod(with_quick_probes(Script(tokens=6)))

    def run_and_chat(self, **request):
        request = dict({"model": MODEL}, **request)
        result, metrics, chunks = self.run_to_end(request)
        self.assertEqual(result, "done", metrics)
        chat = [c for c in self.streamed_chats() if user_text(c.request.body) == request["user_prompt"]][-1]
        return metrics, chat, chunks

    def test_parts_add_up_to_the_server_count(self):
        user = "What is the capital of France? Answer in one word."
        base = "You are a geography tutor. Be brief."
        context = "<user>Hi!</user><assistant>Hello, how can I help?</assistant>"
        injections = [("memory", "The user lives in Lyon, and likes maps."), ("policy", "Never guess.")]
        metrics, chat, _ = self.run_and_chat(user_prompt=user, system_prompt=base, conversation_context=context,
                                             injections=injections)
        bd = metrics["breakdown"]
        self.assertEqual((bd["method"], bd["exact"]), ("prompt-probe", True))
        parts = bd["input"]
        total = chat.metrics["prompt_eval_count"]
        self.assertEqual(parts["total"], total)
        self.assertEqual(metrics["tokens"]["input"], total)
        self.assertEqual(sum(parts[k] for k in ("user", "system", "context", "injections", "template")), total)

        # Each part is what it adds to the prompt, by the fake server's tokenizer. The system message
        # as sent is base + context block + injection blocks; its role markup (<|im_start|>, system,
        # <|im_end|>) exists only because of the system prompt and counts with it.
        system = chat.request.body["messages"][0]["content"]
        with_ctx = base + "\n\n<conversation_context>\n" + context + "\n</conversation_context>"
        self.assertTrue(system.startswith(with_ctx + "\n\n---\n\n[memory]\n"), system)

        def tok(text):
            return len(fake_tokenize(text))

        self.assertEqual(parts["user"], tok(user))
        self.assertEqual(parts["system"], 3 + tok(base))
        self.assertEqual(parts["context"], tok(with_ctx) - tok(base))
        self.assertEqual(parts["injections"], tok(system) - tok(with_ctx))
        self.assertEqual(parts["template"], 6)  # BOS, the user message's markup, the assistant header
        self.assertEqual(bd["injected"], parts["system"] + parts["context"] + parts["injections"])
        self.assertEqual(metrics["tokens"]["injected"], bd["injected"])
        self.assertTrue(close(bd["injected_share"], bd["injected"] / total))
        self.assertEqual((bd["output"]["total"], bd["output"]["answer"], bd["output"]["thinking"]), (6, 6, 0))

        # The counts came from minimal requests (one token each), and they are cached: the same
        # parts again cost no new probe.
        probes = [c for c in self.server.chats if is_probe(c.request.body)]
        self.assertEqual(len(probes), 5)
        for p in probes:
            self.assertEqual(p.request.body["options"]["num_predict"], 1)
            self.assertEqual(p.request.body["model"], MODEL)
        metrics2, _, _ = self.run_and_chat(user_prompt=user, system_prompt=base, conversation_context=context,
                                           injections=injections)
        self.assertEqual(metrics2["breakdown"]["input"], parts)
        self.assertEqual(len([c for c in self.server.chats if is_probe(c.request.body)]), 5)

    def test_user_prompt_only(self):
        user = "Name three rivers."
        metrics, chat, _ = self.run_and_chat(model=PLAIN_MODEL, user_prompt=user)
        parts = metrics["breakdown"]["input"]
        self.assertEqual(parts, {"user": len(fake_tokenize(user)), "system": 0, "context": 0, "injections": 0,
                                 "template": 6, "total": chat.metrics["prompt_eval_count"]})
        self.assertEqual(metrics["tokens"]["injected"], 0)

    @lab_options(scenario=with_quick_probes(Script(tokens=5, thinking_tokens=4)))
    def test_include_thinking(self):
        metrics, chat, chunks = self.run_and_chat(user_prompt="Think or not?", include_thinking=False)
        self.assertIs(chat.request.body["think"], False)
        self.assertEqual(chunk_text(chunks), ("".join(word_pieces(5)), ""))
        self.assertIs(metrics["include_thinking"], False)
        self.assertIs(metrics["thinking_requested"], False)
        self.assertEqual((metrics["tokens"]["output"], metrics["tokens"]["thinking"]), (5, 0))

        metrics, chat, chunks = self.run_and_chat(user_prompt="Think!", include_thinking=True)
        self.assertIs(chat.request.body["think"], True)
        self.assertNotEqual(chunk_text(chunks)[1], "")
        self.assertIs(metrics["thinking_requested"], True)
        self.assertEqual(metrics["tokens"]["output"], 9)
        self.assertEqual(metrics["breakdown"]["output"]["thinking"] + metrics["breakdown"]["output"]["answer"], 9)

        # A model without the capability gets no think field, whatever the request says.
        for include in (False, True):
            metrics, chat, _ = self.run_and_chat(model=PLAIN_MODEL, user_prompt="plain %s" % include,
                                                 include_thinking=include)
            self.assertNotIn("think", chat.request.body)
            self.assertIs(metrics["thinking_requested"], False)
            self.assertIs(metrics["include_thinking"], include)
        probes = [c for c in self.server.chats if is_probe(c.request.body)]
        self.assertTrue(all("think" not in c.request.body for c in probes if c.request.body["model"] == PLAIN_MODEL))


PANE_TEXT = {
    MODEL: ["Alpha", " one", " two", " three"] * 6,
    PLAIN_MODEL: ["Bravo", " uno", " dos", " tres"] * 6,
    SMALL_MODEL: ["Charlie", " eins", " zwei", " drei"] * 6,
}


class ComparisonTest(JobCase):
    scenario = staticmethod(with_quick_probes(
        lambda body: Script(tokens=PANE_TEXT[body["model"]], load_ms=20, prefill_ms=30, token_interval_ms=20)))

    PANES = [{"model": MODEL, "alias": "qwen-cold", "temperature": 0.1, "max_tokens": 100},
             {"model": PLAIN_MODEL, "alias": "llama", "temperature": 0.7},
             {"model": SMALL_MODEL, "system_prompt": "You are small."}]

    def pane_runs(self, job):
        return self.pump_until(lambda: (lambda r: r if len(r) == 3 else None)(self.job_property(job, "Runs")), 10,
                               "three pane runs")

    def test_three_panes_stream_concurrently(self):
        job = self.start_comparison({"user_prompt": "Say something."}, self.PANES)
        self.assertEqual(self.job_property(job, "Kind"), "comparison")
        result, summary = self.wait_job(job)
        self.assertEqual(result, "done", summary)
        runs = self.job_property(job, "Runs")
        self.assertEqual([self.run_property(p, "Model") for p in runs], [MODEL, PLAIN_MODEL, SMALL_MODEL])
        for path, pane in zip(runs, self.PANES):
            r, metrics, chunks = self.wait_run(path)
            self.assertEqual(r, "done")
            self.assertEqual(chunk_text(chunks), ("".join(PANE_TEXT[pane["model"]]), ""))
            self.assertEqual(self.call(path, labtest.RUN_IFACE, "GetTranscript", None, "(ss)"),
                             ("".join(PANE_TEXT[pane["model"]]), ""))
        chats = {c.request.body["model"]: c for c in self.streamed_chats()}
        self.assertEqual(len(chats), 3)
        # Concurrent: every pane was decoding at the same moment.
        decode = [self.phase(chats[p["model"]], "decode") for p in self.PANES]
        self.assertLess(max(t0 for t0, _ in decode), min(t1 for _, t1 in decode))
        # Per-pane options reached the server.
        self.assertEqual(chats[MODEL].request.body["options"]["temperature"], 0.1)
        self.assertEqual(chats[MODEL].request.body["options"]["num_predict"], 100)
        self.assertEqual(chats[PLAIN_MODEL].request.body["options"]["temperature"], 0.7)
        self.assertEqual(chats[SMALL_MODEL].request.body["messages"][0],
                         {"role": "system", "content": "You are small."})
        self.assertEqual([m["role"] for m in chats[MODEL].request.body["messages"]], ["user"])

        panes = summary["panes"]
        self.assertEqual([p["alias"] for p in panes], ["qwen-cold", "llama", SMALL_MODEL])
        self.assertEqual([p["state"] for p in panes], ["done"] * 3)
        for p, pane in zip(panes, self.PANES):
            chat = chats[pane["model"]]
            self.assertEqual((p["model"], p["prompt_tokens"], p["completion_tokens"]),
                             (pane["model"], chat.metrics["prompt_eval_count"], chat.metrics["eval_count"]))
            self.assertGreater(p["tokens_per_s"], 0)
            self.assertNotIn("total_wh", p)  # unmeasured

    def test_stop_one_pane(self):
        self.server.scenario = with_quick_probes(
            lambda body: Script(tokens=PANE_TEXT[body["model"]] * 3, token_interval_ms=25))
        job = self.start_comparison({"user_prompt": "Say something."}, self.PANES)
        runs = self.pane_runs(job)
        self.pump_until(lambda: all(self.run_property(p, "State") == "decoding" for p in runs), 20,
                        "every pane streaming")
        self.call(runs[1], labtest.RUN_IFACE, "Cancel")
        result, summary = self.wait_job(job)
        self.assertEqual(result, "done")
        self.assertEqual([p["state"] for p in summary["panes"]], ["done", "cancelled", "done"])
        self.server.wait_cancelled(1)
        for i, path in enumerate(runs):
            r, metrics, chunks = self.wait_run(path)
            full = "".join(PANE_TEXT[self.PANES[i]["model"]] * 3)
            answer = chunk_text(chunks)[0]
            if i == 1:
                self.assertEqual(r, "cancelled")
                self.assertTrue(full.startswith(answer) and 0 < len(answer) < len(full), answer)
            else:
                self.assertEqual((r, answer), ("done", full))

    @lab_options(powersim=True)
    def test_measured_panes_queue_one_after_another(self):
        job = self.start_comparison({"user_prompt": "Say something.", "measure": "live"}, self.PANES)
        result, summary = self.wait_job(job)
        self.assertEqual(result, "done", summary)
        chats = [self.streamed_chats()[i] for i in range(3)]
        self.assertEqual([c.request.body["model"] for c in chats], [p["model"] for p in self.PANES])
        for prev, nxt in zip(chats, chats[1:]):
            self.assertGreater(nxt.request.arrival_ns, prev.final_ns)
        self.assertTrue(all(p["total_wh"] > 0 for p in summary["panes"]))


class OwnerTest(JobCase):
    scenario = staticmethod(with_quick_probes(Script(tokens=200, token_interval_ms=25)))

    def test_owner_disconnect_cancels_the_job(self):
        other = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        reply = other.call_sync(labtest.BUS_NAME, labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "StartBatch",
                                GLib.Variant.new_tuple(lab_dict({"model": MODEL, "user_prompt": "Abandoned"}),
                                                       lab_dict({"runs": 3, "warmup": 0})),
                                GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE, 60000, None)
        job = reply.unpack()[0]
        runs = self.pump_until(lambda: self.job_property(job, "Runs"), 10, "the first run")
        self.pump_until(lambda: self.run_property(runs[0], "State") == "decoding", 20, "the first run streaming")
        # Progress and Finished are the owner's: this connection gets none.
        self.assertFalse([s for s in self.signals if s.path == job and s.member in ("Progress", "Finished")])
        other.close_sync(None)
        self.pump_until(lambda: self.job_property(job, "State") == "cancelled", 20, "the job cancelled")
        self.server.wait_cancelled(1)
        self.assertEqual(self.run_property(runs[0], "State"), "cancelled")
        self.assertEqual(self.job_property(job, "Runs"), runs)
        stored = self.list_runs(job=self.job_property(job, "Id"))
        self.assertEqual([r["state"] for r in stored], ["cancelled"])


if __name__ == "__main__":
    labtest.main()
