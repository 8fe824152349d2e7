#!/usr/bin/python3
"""llmlab-gtk in a real window: Xvfb, the real llmlabd on a private bus, the fake Ollama server and
the power simulator. The tests drive the application the way a script or a person would (its
exported actions: the same ones its buttons use) and read what the widgets show over AT-SPI, then
compare that with what the daemon reports over D-Bus, read independently. Screenshots of both
pages are saved in BUILD/test-artifacts/gtk/ (or $LLMLAB_GTK_ARTIFACTS)."""

import json
import math
import re
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402  (puts tests/fixtures on sys.path)
from labtest import LabTestCase, Script, lab_dict, lab_options  # noqa: E402
from gi.repository import GLib  # noqa: E402

import gtk_session  # noqa: E402
from gtk_session import GtkSession, find_all, shown, walk  # noqa: E402

MODEL = "qwen3:0.6b"
ANSWER = ["Rayleigh", " scattering", " makes", " short", " blue", " wavelengths", " scatter", " most", "."]
THINKING = ["The", " user", " asks", " about", " sky", " colour", "."]


# ---------------------------------------------------------------------- the client's number formats

def _sig4(v):
    a = abs(v)
    if a == 0.0:
        decimals = 3
    elif a >= 1000.0:
        decimals = 0
    elif a >= 100.0:
        decimals = 1
    elif a >= 10.0:
        decimals = 2
    else:
        decimals = min(max(3 - math.floor(math.log10(a)), 3), 9)
    return "%.*f" % (decimals, v)


def _scaled(v, units):
    a = abs(v)
    if a != 0.0 and a < 1e-3:
        return "%s %s" % (_sig4(v * 1e6), units[0])
    if a != 0.0 and a < 1.0:
        return "%s %s" % (_sig4(v * 1e3), units[1])
    return "%s %s" % (_sig4(v), units[2])


def fmt_energy(wh):
    return "%.3f kWh" % (wh / 1000.0) if abs(wh) >= 1000.0 else _scaled(wh, ("µWh", "mWh", "Wh"))


def fmt_co2(g):
    return "%.3f kg" % (g / 1000.0) if abs(g) >= 1000.0 else _scaled(g, ("µg", "mg", "g"))


def fmt_ms(ms):
    if ms < 1000.0:
        return "%.1f ms" % ms
    if ms < 60000.0:
        return "%.2f s" % (ms / 1000.0)
    return "%d min %02d s" % (int(ms / 60000.0), int(math.fmod(ms / 1000.0, 60.0)))


def fmt_count(n):
    return "{:,}".format(int(round(n)))


# (what the window calls it, where it is in the daemon's Result, how the window formats it)
ENERGY_FIGURES = [
    ("Model load", ("energy", "load_wh"), fmt_energy),
    ("Prefill", ("energy", "prefill_wh"), fmt_energy),
    ("Decode", ("energy", "decode_wh"), fmt_energy),
    ("Total energy", ("energy", "total_wh"), fmt_energy),
    ("Net energy", ("energy", "net_total_wh"), fmt_energy),
    ("Wh/1000 e-tokens", ("energy", "wh_per_1000_etokens"), _sig4),
    ("Prefill Wh/1K input", ("energy", "prefill_wh_per_1000_input_tokens"), _sig4),
    ("Decode Wh/1K output", ("energy", "decode_wh_per_1000_output_tokens"), _sig4),
    ("J per output token", ("energy", "j_per_output_token"), _sig4),
    ("CO₂", ("carbon", "co2_g"), fmt_co2),
    ("Input tokens", ("tokens", "input"), fmt_count),
    ("Output tokens", ("tokens", "output"), fmt_count),
    ("Thinking tokens", ("tokens", "thinking"), fmt_count),
    ("Time to first token", ("timing", "ttft_ms"), fmt_ms),
    ("End to end", ("timing", "e2e_ms"), fmt_ms),
]


def dig(d, path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


class GtkTestCase(LabTestCase):
    """A LabTestCase with the application running in a window (self.ui)."""

    powersim = True

    def setUp(self):
        missing = gtk_session.missing_tools()
        if missing:
            self.skipTest("missing: " + ", ".join(missing))
        super().setUp()
        binary = os.path.join(self.build_root, "client", "gtk", "llmlab-gtk")
        if not os.access(binary, os.X_OK):
            self.skipTest("llmlab-gtk is not built (-Dgtk=disabled, or gtk4/libadwaita missing)")
        self.ui = GtkSession(self)
        self.addCleanup(self._print_app_log_if_needed)
        self.ui.start()

    def _print_app_log_if_needed(self):
        if self._has_failed() or os.environ.get("LLMLAB_TEST_VERBOSE") == "1":
            sys.stderr.write("\n----- llmlab-gtk log -----\n%s----- end -----\n" % self.ui.app_log())

    def latest_runs(self, n):
        return self.manager_call("ListRuns", GLib.Variant.new_tuple(lab_dict({"limit": n})), "(aa{sv})")

    def wait_status(self, prefixes, name="Test status", timeout=30.0):
        def check(tree):
            text = shown(tree, name) or ""
            return text.startswith(prefixes) and tree
        return self.ui.wait_for(check, "%s to start with %r" % (name, prefixes), timeout)

    def assert_idle(self):
        self.assertTrue(self.ui.action_enabled("run-energy"), "Run is disabled after the run ended")
        self.assertFalse(self.ui.action_enabled("stop-energy"), "Stop is still enabled after the run ended")


class EnergyLabTest(GtkTestCase):
    scenario = Script(tokens=ANSWER, thinking_tokens=THINKING, load_ms=120, prefill_ms=80, token_interval_ms=25)

    def test_live_run_shows_the_daemons_result(self):
        self.ui.activate("set-energy-model", GLib.Variant("s", MODEL))
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Why is the sky blue?"))
        self.ui.activate("set-include-thinking", GLib.Variant("b", True))
        self.ui.activate("set-measure", GLib.Variant("s", "live"))
        self.ui.activate("run-energy")
        self.ui.wait_for(lambda t: shown(t, "Response state") in ("Thinking…", "Answering…", "Done"),
                         "the response to stream")
        tree = self.wait_status(("Done", "Run failed", "Could not"))
        self.assertTrue(shown(tree, "Test status").startswith("Done"), shown(tree, "Test status"))
        self.assert_idle()

        # The streamed text, thinking apart from the answer.
        self.assertEqual(shown(tree, "Answer"), "".join(ANSWER))
        self.assertEqual(shown(tree, "Thinking"), "".join(THINKING))

        # Every figure equals the daemon's stored result, read over D-Bus by the test.
        [result] = self.latest_runs(1)
        self.assertEqual(result["state"], "done")
        self.assertTrue(result["energy"]["measured"])
        checked = 0
        for name, path, fmt in ENERGY_FIGURES:
            value = dig(result, path)
            with self.subTest(figure=name):
                if value is None:
                    self.assertEqual(shown(tree, name), "—")
                    continue
                self.assertEqual(shown(tree, name), fmt(value))
                checked += 1
        self.assertGreaterEqual(checked, 13)
        self.assertTrue(shown(tree, "Measurement method").startswith("Measured live"), shown(tree, "Measurement method"))

        # The power chart drew the timeline with the three phases.
        chart = shown(tree, "Power over the run")
        self.assertRegex(chart, r"^Peak \d+\.\d\d W, mean \d+\.\d\d W over ")
        for phase in ("load", "prefill", "decode"):
            self.assertIn("; %s " % phase, chart)

        # The session summary is the daemon's.
        summary = self.manager_call("GetSessionSummary", None, "(a{sv})")
        self.ui.wait_for(lambda t: shown(t, "Session energy") == fmt_energy(summary["total_wh"]),
                         "the session summary")
        self.ui.wait_for(lambda t: "1 runs; latest " + _sig4(result["energy"]["wh_per_1000_etokens"])
                         in (shown(t, "Wh per 1000 e-tokens across the session's runs") or ""), "the session chart")
        self.ui.activate("show-page", GLib.Variant("s", "energy"))
        self.ui.screenshot("energy-lab.png")

    @lab_options(scenario=Script(tokens=ANSWER, load_ms=20, prefill_ms=20, token_interval_ms=5))
    def test_estimate_run_says_so_instead_of_drawing(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Estimate me"))
        self.ui.activate("set-measure", GLib.Variant("s", "estimate"))
        self.ui.activate("run-energy")
        tree = self.wait_status(("Done", "Run failed", "Could not"))
        [result] = self.latest_runs(1)
        self.assertFalse(result["energy"]["measured"])
        self.assertEqual(shown(tree, "Total energy"), fmt_energy(result["energy"]["total_wh"]))
        self.assertTrue(shown(tree, "Measurement method").startswith("Estimated from benchmark " +
                                                                   result["energy"]["benchmark"]))
        self.assertTrue(shown(tree, "Power over the run").startswith("Estimated run:"), shown(tree, "Power over the run"))
        self.assert_idle()

    @lab_options(scenario=Script(http_error=(500, '{"error":"model runner has unexpectedly stopped"}')))
    def test_daemon_error_is_shown_and_the_ui_recovers(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Crash, please"))
        self.ui.activate("run-energy")
        tree = self.wait_status(("Run failed", "Could not", "Done"))
        status = shown(tree, "Test status")
        self.assertTrue(status.startswith("Run failed: "), status)
        # The daemon's own message, as it stored it with the run.
        [result] = self.latest_runs(1)
        self.assertEqual(result["state"], "failed")
        self.assertEqual(result["error"]["name"], "org.llmlab.Lab1.Error.BackendError")
        self.assertIn("model runner has unexpectedly stopped", result["error"]["message"])
        self.assertEqual(status, "Run failed: " + result["error"]["message"])
        # …also in a toast, and the window is usable again.
        self.assertTrue([n for n in walk(tree) if n.get("role") == "label" and n.get("text") == status],
                        "no toast with the daemon's message")
        self.assertEqual(shown(tree, "Response state"), "Failed")
        self.assert_idle()

    @lab_options(scenario=Script(tokens=200, load_ms=20, prefill_ms=20, token_interval_ms=60))
    def test_stop_cancels_and_the_ui_recovers(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Talk for a long time"))
        self.ui.activate("run-energy")
        self.ui.wait_for(lambda t: shown(t, "Response state") == "Answering…", "the answer to stream")
        self.assertTrue(self.ui.action_enabled("stop-energy"))
        self.ui.activate("stop-energy")
        tree = self.wait_status(("Cancelled",))
        self.assertEqual(shown(tree, "Response state"), "Cancelled")
        self.assertTrue(shown(tree, "Answer").startswith("The quick"), shown(tree, "Answer"))
        self.assert_idle()
        [result] = self.latest_runs(1)
        self.assertEqual(result["state"], "cancelled")

    @lab_options(scenario=Script(tokens=12, load_ms=20, prefill_ms=30, token_interval_ms=10))
    def test_batch_shows_statistics(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Batch me"))
        self.ui.activate("set-batch-runs", GLib.Variant("(uu)", (3, 1)))
        self.ui.activate("run-energy")
        tree = self.wait_status(("The batch is finished", "The batch failed"), timeout=60)
        self.assertEqual(shown(tree, "Test status"), "The batch is finished")
        self.assert_idle()
        runs = [r for r in self.latest_runs(4) if not r.get("warmup")]
        self.assertEqual(len(runs), 3)
        values = sorted(r["energy"]["wh_per_1000_etokens"] for r in runs)
        self.assertEqual(shown(tree, "Wh/1000 e-tokens mean"), _sig4(sum(values) / 3))
        self.assertEqual(shown(tree, "Wh/1000 e-tokens median"), _sig4(values[1]))


def _sized_script(request):
    """Prefill takes time in proportion to the prompt, as on a real server, and the output is long
    enough for max_tokens to cut it: calibration can then fit both coefficients."""
    chars = sum(len(m.get("content") or "") for m in request.get("messages", []))
    return Script(tokens=300, load_ms=5, prefill_ms=5 + chars * 0.02, token_interval_ms=1)


class JobsTest(GtkTestCase):
    scenario = staticmethod(_sized_script)

    def test_calibration_shows_the_fitted_benchmark(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Calibrate on this"))
        self.ui.activate("calibrate")
        tree = self.wait_status(("The calibration",), timeout=120)
        self.assertEqual(shown(tree, "Test status"), "The calibration is finished")
        self.assert_idle()
        benchmarks = self.manager_call("ListBenchmarks", None, "(aa{sv})")
        [bench] = [b for b in benchmarks if b["id"] == "calibrated:" + MODEL]
        self.assertEqual(shown(tree, "Benchmark"), bench["id"])
        self.assertEqual(shown(tree, "Wh per 1000 input tokens"), _sig4(bench["wh_per_1000_input_tokens"]))
        self.assertEqual(shown(tree, "Wh per 1000 output tokens"), _sig4(bench["wh_per_1000_output_tokens"]))
        self.assertEqual(shown(tree, "R²"), "%.4f" % bench["r2"])

    def test_crossover_steps_are_the_daemons_runs(self):
        self.ui.activate("set-energy-prompt", GLib.Variant("s", "Grow me"))
        self.ui.activate("run-crossover")
        tree = self.wait_status(("The crossover",), timeout=120)
        self.assertEqual(shown(tree, "Test status"), "The crossover is finished")
        self.assert_idle()
        n = len([node for node in walk(tree) if re.fullmatch(r"Step \d+ input tokens", node.get("name") or "")])
        self.assertGreaterEqual(n, 2)
        steps = list(reversed(self.latest_runs(n)))
        # The finder stops at the first step where prefill energy passes decode energy.
        crossed = [run["energy"]["prefill_wh"] > run["energy"]["decode_wh"] for run in steps]
        self.assertEqual(crossed[:-1], [False] * (n - 1))
        self.assertEqual(shown(tree, "Step %d crossed" % n), "yes" if crossed[-1] else "no")
        for i, run in enumerate(steps, 1):
            with self.subTest(step=i):
                self.assertEqual(shown(tree, "Step %d input tokens" % i), fmt_count(run["tokens"]["input"]))
                self.assertEqual(shown(tree, "Step %d prefill" % i), fmt_energy(run["energy"]["prefill_wh"]))
                self.assertEqual(shown(tree, "Step %d decode" % i), fmt_energy(run["energy"]["decode_wh"]))
        self.assertGreater(steps[-1]["tokens"]["input"], steps[0]["tokens"]["input"])


class ExportTest(GtkTestCase):
    scenario = Script(tokens=ANSWER, load_ms=10, prefill_ms=10, token_interval_ms=5)

    def test_export_writes_the_daemons_records(self):
        for prompt in ("First", "Second"):
            self.ui.activate("set-energy-prompt", GLib.Variant("s", prompt))
            self.ui.activate("run-energy")
            self.wait_status(("Done",))
        path = os.path.join(self.tmpdir, "export.json")
        self.ui.activate("export-to", GLib.Variant("s", path))
        self.ui.wait_for(lambda t: [n for n in walk(t) if (n.get("text") or "").startswith("Exported ")
                                    and n["text"].endswith(" to " + path)], "the export toast")
        with open(path) as f:
            records = json.load(f)
        runs = self.latest_runs(10)
        self.assertEqual(sorted(r["id"] for r in records), sorted(r["run"] for r in runs))
        self.assertEqual(len(records), 2)
        self.assertEqual([r["answer"] for r in records], ["".join(ANSWER)] * 2)


def _pane_script(request):
    """Each pane's model answers differently, by the temperature the pane asked for."""
    temperature = request.get("options", {}).get("temperature")
    words = PANE_TEXT.get(round(temperature or 0, 2), ["?"])
    return Script(tokens=words, load_ms=30, prefill_ms=20, token_interval_ms=15)


PANES = [("llama3.2:latest", "cold", 0.1), ("llama3.2:latest", "warm", 0.7), ("gemma3:270m", "hot", 1.5)]
PANE_TEXT = {
    0.1: ["Red", ",", " green", ",", " blue", "."],
    0.7: ["Crimson", ",", " teal", " and", " amber", "."],
    1.5: ["Ultraviolet", " sings", ",", " chartreuse", " hums", ",", " mauve", " dreams", "."],
}


class ComparisonLabTest(GtkTestCase):
    scenario = staticmethod(_pane_script)

    def test_three_panes_side_by_side(self):
        self.ui.activate("show-page", GLib.Variant("s", "comparison"))
        for model, alias, temperature in PANES:
            self.ui.activate("add-pane", GLib.Variant("(ssdu)", (model, alias, temperature, 256)))
        self.ui.activate("set-compare-prompts", GLib.Variant("(ss)", ("Be brief.", "Name three colours.")))
        self.ui.activate("generate-all")

        def all_done(tree):
            states = [shown(tree, "State of %s [%s]" % (m, a)) for m, a, _ in PANES]
            return all(s in ("Done", "Failed", "Cancelled") for s in states) and tree
        tree = self.ui.wait_for(all_done, "every pane to finish")
        self.assertEqual(shown(tree, "Comparison status"), "3 models available · Active runs: 0 of 3 panes")
        runs = self.latest_runs(3)
        self.assertEqual(sorted(r["model"] for r in runs), sorted(m for m, _, _ in PANES))
        by_model = {r["model"]: r["tokens"]["input"] for r in runs}
        for model, alias, temperature in PANES:
            title = "%s [%s]" % (model, alias)
            with self.subTest(pane=title):
                text = PANE_TEXT[temperature]
                self.assertEqual(shown(tree, "State of " + title), "Done")
                self.assertEqual(shown(tree, "Output of " + title), "".join(text))
                p, c = by_model[model], len(text)
                self.assertEqual(shown(tree, "Tokens of " + title),
                                 "prompt %d • output %d (total %d)" % (p, c, p + c))
                self.assertRegex(shown(tree, "Speed of " + title), r"^\d+\.\d\d s \(\d+\.\d t/s\)$")
        self.assertTrue(self.ui.action_enabled("generate-all"))
        self.ui.screenshot("comparison-lab.png")

    @lab_options(scenario=Script(tokens=300, load_ms=20, prefill_ms=20, token_interval_ms=50))
    def test_stop_all_cancels_every_pane(self):
        self.ui.activate("show-page", GLib.Variant("s", "comparison"))
        for model, alias, temperature in PANES:
            self.ui.activate("add-pane", GLib.Variant("(ssdu)", (model, alias, temperature, 1024)))
        self.ui.activate("set-compare-prompts", GLib.Variant("(ss)", ("", "Go on and on.")))
        self.ui.activate("generate-all")
        self.ui.wait_for(lambda t: (shown(t, "Comparison status") or "").endswith("Active runs: 3 of 3 panes")
                         and all((shown(t, "Output of %s [%s]" % (m, a)) or "") for m, a, _ in PANES),
                         "three panes streaming")
        self.ui.activate("stop-all")

        def all_cancelled(tree):
            return all(shown(tree, "State of %s [%s]" % (m, a)) == "Cancelled" for m, a, _ in PANES) and tree
        tree = self.ui.wait_for(all_cancelled, "every pane to be cancelled")
        self.assertEqual(shown(tree, "Comparison status"), "3 models available · Active runs: 0 of 3 panes")
        for model, alias, _ in PANES:
            self.assertEqual(shown(tree, "Tokens of %s [%s]" % (model, alias)), "Cancelled")


class DaemonPresenceTest(GtkTestCase):
    def _absent_page_showing(self, tree):
        # GTK 4.8 exports no "showing" state for stack pages: the header bar says it (and the
        # screenshot shows the status page).
        return shown(tree, "Daemon connection") == "not connected"

    def test_follows_the_daemon_vanishing_and_appearing(self):
        tree = self.ui.wait_for(lambda t: shown(t, "Daemon connection") == "llmlabd 0.1.0 · session bus" and t,
                                "the connection")
        self.assertFalse(self._absent_page_showing(tree))
        self.kill_daemon()
        self.ui.wait_for(self._absent_page_showing, "the 'daemon not running' page")
        self.ui.screenshot("daemon-absent.png")
        self.start_daemon()
        tree = self.ui.wait_for(lambda t: not self._absent_page_showing(t) and shown(t, "Test status") == "Ready" and t,
                                "the labs to come back")
        # The lists are read again from the new daemon.
        self.ui.wait_for(lambda t: find_all(t, role="label", text=MODEL), "the model list")


if __name__ == "__main__":
    labtest.main()
