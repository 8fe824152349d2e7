#!/usr/bin/python3
"""Metrics for fleets: `llmlabctl export --format openmetrics` (checked with the strict OpenMetrics
parser of python3-prometheus-client) and the node-exporter textfile that llmlabd rewrites after
every finished run with [Metrics] TextfilePath= (Prometheus text format 0.0.4, checked line by
line against its grammar and with prometheus_client's parser). The values are compared with the
stored runs.
"""

import collections
import math
import os
import re
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, Script, lab_dict  # noqa: E402
from gi.repository import GLib  # noqa: E402
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families as parse_text  # noqa: E402

MODEL = "qwen3:0.6b"
SMALL_MODEL = "gemma3:270m"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABELS = r"\{(?:%s=%s(?:,%s=%s)*)?\}" % (NAME, LABEL_VALUE, NAME, LABEL_VALUE)
FLOAT = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)$" % (NAME, LABELS, FLOAT))  # no timestamp: node-exporter rejects them


def is_probe(body):
    return isinstance(body, dict) and body.get("stream") is False


def scenario(body):
    if is_probe(body):
        return Script(tokens=1)
    return Script(tokens=10, load_ms=10, prefill_ms=20, token_interval_ms=5)


class MetricsCase(LabTestCase):
    powersim = True
    scenario = staticmethod(scenario)

    def config(self):
        conf = super().config()
        self.metrics_dir = os.path.join(self.tmpdir, "textfile")
        os.makedirs(self.metrics_dir, exist_ok=True)
        self.textfile = os.path.join(self.metrics_dir, "llmlab.prom")
        conf["Metrics"] = {"TextfilePath": self.textfile}
        return conf

    def one_run(self, **request):
        result, metrics, _ = self.run_to_end(dict({"user_prompt": "Count the stars."}, **request))
        self.assertEqual(result, "done", metrics)
        return metrics

    def stored_runs(self):
        return self.manager_call("ListRuns", GLib.Variant.new_tuple(lab_dict({"include_warmup": True})),
                                 "(aa{sv})")

    def expected(self):
        """{(model, backend): {...}} and {(model, backend, measured): {...}} from the stored runs."""
        by_model = collections.defaultdict(lambda: {"runs": 0, "input": 0, "output": 0})
        by_energy = collections.defaultdict(lambda: {"wh": 0.0, "etoken_wh": 0.0, "etokens": 0, "n": 0})
        for r in self.stored_runs():
            key = (r["model"], r["backend"])
            by_model[key]["runs"] += 1
            by_model[key]["input"] += r["tokens"].get("input", 0)
            by_model[key]["output"] += r["tokens"].get("output", 0)
            energy = r.get("energy", {})
            if "total_wh" in energy:
                e = by_energy[key + ("true" if energy.get("measured") else "false",)]
                e["n"] += 1
                e["wh"] += energy["total_wh"]
                if r["tokens"].get("output", 0) > 0:
                    e["etoken_wh"] += energy["total_wh"]
                    e["etokens"] += r["tokens"]["output"]
        return by_model, by_energy

    def assertClose(self, a, b, what):
        self.assertTrue(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), "%s: %r != %r" % (what, a, b))


class TextfileTest(MetricsCase):
    def check_text_format(self, text):
        """The Prometheus text format, strictly: HELP and TYPE once per family before its samples,
        counters named *_total, no timestamps, no OpenMetrics-only lines, every series once."""
        self.assertTrue(text.endswith("\n"))
        families, seen, current = {}, set(), None
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name = line.split(" ", 3)[2]
                self.assertRegex(name, "^%s$" % NAME)
                self.assertNotIn(name, families, "HELP twice for %s" % name)
                families[name] = None
                current = name
            elif line.startswith("# TYPE "):
                _, _, name, mtype = line.split(" ")
                self.assertEqual(name, current, "TYPE without its HELP: %s" % line)
                self.assertIsNone(families[name])
                self.assertIn(mtype, ("counter", "gauge"))
                if mtype == "counter":
                    self.assertTrue(name.endswith("_total"), name)
                families[name] = mtype
            else:
                self.assertFalse(line.startswith("#"), "not the text format: %s" % line)
                m = SAMPLE.match(line)
                self.assertIsNotNone(m, "not a sample: %r" % line)
                self.assertEqual(m.group(1), current, "sample outside its family: %s" % line)
                self.assertIsNotNone(families[current], "sample before TYPE: %s" % line)
                self.assertNotIn((m.group(1), m.group(2)), seen, "series twice: %s" % line)
                seen.add((m.group(1), m.group(2)))
        # And what Prometheus' own parser makes of it.
        parsed = {f.name: f for f in parse_text(text)}
        return parsed

    def samples(self, parsed, name):
        key = name[:-len("_total")] if name.endswith("_total") else name
        fam = parsed[key]
        return {tuple(sorted(s.labels.items())): s.value for s in fam.samples if s.name == name}

    def check_values(self, text):
        parsed = self.check_text_format(text)
        by_model, by_energy = self.expected()
        self.assertEqual(set(parsed), {"llmlab_runs", "llmlab_input_tokens", "llmlab_output_tokens",
                                       "llmlab_energy_joules", "llmlab_output_token_energy_joules",
                                       "llmlab_wh_per_1000_etokens"})
        for name, key in (("llmlab_runs_total", "runs"), ("llmlab_input_tokens_total", "input"),
                          ("llmlab_output_tokens_total", "output")):
            got = self.samples(parsed, name)
            want = {(("backend", b), ("model", m)): float(v[key]) for (m, b), v in by_model.items()}
            self.assertEqual(got, want, name)
        joules = self.samples(parsed, "llmlab_energy_joules_total")
        self.assertEqual(set(joules), {(("backend", b), ("measured", ms), ("model", m))
                                       for (m, b, ms) in by_energy})
        for (m, b, ms), e in by_energy.items():
            labels = (("backend", b), ("measured", ms), ("model", m))
            self.assertClose(joules[labels], e["wh"] * 3600, "joules %s" % (labels,))
            self.assertClose(self.samples(parsed, "llmlab_output_token_energy_joules")[labels],
                             e["etoken_wh"] * 3600 / e["etokens"], "J per token")
            self.assertClose(self.samples(parsed, "llmlab_wh_per_1000_etokens")[labels],
                             e["etoken_wh"] * 1000 / e["etokens"], "Wh/1000")

    def read_textfile(self):
        with open(self.textfile) as f:
            return f.read()

    def test_rewritten_after_every_run(self):
        # Written at start-up already: every family, no samples yet.
        self.check_text_format(self.read_textfile())
        self.assertNotIn("{", self.read_textfile())
        self.one_run(model=MODEL, measure="live")
        first = self.read_textfile()
        held = open(self.textfile)
        self.addCleanup(held.close)
        self.check_values(first)
        self.assertIn('llmlab_runs_total{model="qwen3:0.6b",backend="ollama"} 1\n', first)

        self.one_run(model=MODEL, measure="estimate")
        self.one_run(model=SMALL_MODEL, measure="off")
        text = self.read_textfile()
        self.check_values(text)
        self.assertIn('llmlab_runs_total{model="qwen3:0.6b",backend="ollama"} 2\n', text)
        self.assertIn('llmlab_runs_total{model="gemma3:270m",backend="ollama"} 1\n', text)
        # The unmeasured run counts in runs and tokens only.
        self.assertNotIn('gemma3:270m",backend="ollama",measured', text)
        self.assertRegex(text, r'(?m)^llmlab_energy_joules_total\{model="qwen3:0.6b",backend="ollama",'
                               r'measured="false"\} [0-9.e-]+$')
        self.assertRegex(text, r'(?m)^llmlab_energy_joules_total\{model="qwen3:0.6b",backend="ollama",'
                               r'measured="true"\} [0-9.e-]+$')

        # Replaced, never rewritten in place: a reader of the old file still has all of it, unlinked.
        self.assertEqual(held.read(), first)
        self.assertEqual(os.fstat(held.fileno()).st_nlink, 0)
        # Nothing else left in the directory; readable by the collector.
        self.assertEqual(os.listdir(self.metrics_dir), ["llmlab.prom"])
        self.assertEqual(os.stat(self.textfile).st_mode & 0o777, 0o644)

    def test_every_user_and_failed_runs(self):
        self.one_run(model=MODEL, measure="estimate")
        # A run of another user counts too (fleet metrics, no user label).
        self.ctl("run-energy", "-m", SMALL_MODEL, "-p", "other", "--measure=estimate", "-q", uid=65534)
        self.pump_until(lambda: 'gemma3:270m",backend="ollama"} 1' in self.read_textfile(), 10, "the other run")
        self.server.scenario = Script(http_error=(500, '{"error":"boom"}'))
        result, _, _ = self.run_to_end({"model": MODEL, "user_prompt": "fail", "measure": "estimate"})
        self.assertEqual(result, "failed")
        text = self.read_textfile()
        self.check_text_format(text)
        self.assertIn('llmlab_runs_total{model="qwen3:0.6b",backend="ollama"} 2\n', text)

    def test_written_at_startup_from_the_stored_runs(self):
        self.one_run(model=MODEL, measure="estimate")
        self.stop_daemon()
        os.unlink(self.textfile)
        self.start_daemon()
        text = self.read_textfile()
        self.check_values(text)
        self.assertIn('llmlab_runs_total{model="qwen3:0.6b",backend="ollama"} 1\n', text)

    def test_missing_directory_is_logged_not_fatal(self):
        shutil.rmtree(self.metrics_dir)  # written at start-up: not empty
        self.one_run(model=MODEL, measure="estimate")
        self.wait_for_log("Failed to write the metrics to %s: No such file or directory" % self.textfile)
        os.mkdir(self.metrics_dir)
        self.one_run(model=MODEL, measure="estimate")
        self.assertIn('llmlab_runs_total{model="qwen3:0.6b",backend="ollama"} 2\n', self.read_textfile())


class OpenMetricsExportTest(MetricsCase):
    def check_openmetrics(self, text):
        families = {f.name: f for f in parse_openmetrics(text)}  # strict: raises on any violation
        self.assertTrue(text.endswith("# EOF\n"))
        self.assertEqual(text.count("# EOF"), 1)
        for line in text.splitlines():
            if line.startswith("# UNIT "):
                _, _, name, unit = line.split(" ")
                self.assertTrue(name.endswith("_" + unit), line)
        return families

    def test_export_openmetrics(self):
        self.one_run(model=MODEL, measure="live")
        self.one_run(model=MODEL, measure="estimate")
        self.one_run(model=SMALL_MODEL, measure="live")
        text = self.ctl("export", "--format", "openmetrics").stdout
        families = self.check_openmetrics(text)
        self.assertEqual(families["llmlab_runs"].type, "counter")
        self.assertEqual(families["llmlab_energy_joules"].unit, "joules")
        runs = {s.labels["model"]: s.value for s in families["llmlab_runs"].samples}
        self.assertEqual(runs, {MODEL: 2, SMALL_MODEL: 1})
        _, by_energy = self.expected()
        for s in families["llmlab_energy_joules"].samples:
            key = (s.labels["model"], s.labels["backend"], s.labels["measured"])
            self.assertClose(s.value, by_energy[key]["wh"] * 3600, "joules %s" % (key,))
        # The same names as the textfile (which has its own test above).
        with open(self.textfile) as f:
            textfile_names = set(re.findall(r"(?m)^# TYPE (\S+) ", f.read()))
        self.assertTrue({"llmlab_runs_total", "llmlab_energy_joules_total", "llmlab_wh_per_1000_etokens"}
                        <= textfile_names)

        # To a file: atomically, the same text.
        path = os.path.join(self.tmpdir, "llmlab.om")
        self.ctl("export", "--format", "openmetrics", "-o", path)
        with open(path) as f:
            self.assertEqual(f.read(), text)
        # A filter narrows it.
        only = self.check_openmetrics(self.ctl("export", "--format", "openmetrics", "--model", SMALL_MODEL).stdout)
        self.assertEqual({s.labels["model"] for s in only["llmlab_runs"].samples}, {SMALL_MODEL})

    def test_no_runs(self):
        families = self.check_openmetrics(self.ctl("export", "--format", "openmetrics").stdout)
        self.assertEqual([s for f in families.values() for s in f.samples], [])


if __name__ == "__main__":
    labtest.main()
