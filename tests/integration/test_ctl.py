#!/usr/bin/python3
"""llmlabctl end to end against the real llmlabd, the fake inference server and (where energy is
measured) the power simulator: streaming the exact text, the stable --json shapes, the output
conventions (--json modes, --no-legend, NO_COLOR, COLUMNS, no pager), error messages and hints,
Ctrl-C, the job commands (batch, crossover, calibrate, compare, with the side-by-side view checked
on a pseudo-terminal), export to a file, history, session and benchmarks.

Pseudo-terminals: llmlabctl runs under pty.fork(); what it writes is replayed on a small terminal
emulator (Screen) that understands the few control sequences llmlabctl uses.
"""

import json
import os
import pty
import re
import select
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, Script, lab_options, lab_dict  # noqa: E402
from gi.repository import GLib  # noqa: E402

MODEL = "qwen3:0.6b"             # a thinking model of the fake server
PLAIN_MODEL = "llama3.2:latest"
SMALL_MODEL = "gemma3:270m"
ESC = "\x1b"

RUN_KEYS = ["run", "model", "backend", "state", "answer", "thinking", "tokens", "timing", "energy", "carbon",
            "provenance"]
TOKENS_KEYS = ["input", "output", "thinking", "injected"]
TIMING_KEYS = ["ttft_ms", "tpot_ms", "e2e_ms", "load_ms", "prefill_ms", "decode_ms", "tokens_per_s"]
ENERGY_KEYS = ["measured", "sources", "split_method", "load_wh", "prefill_wh", "decode_wh", "total_wh",
               "net_total_wh", "idle_w", "wh_per_1000_etokens", "prefill_wh_per_1000_input_tokens",
               "decode_wh_per_1000_output_tokens", "j_per_output_token", "zones", "wraps", "sample_interval_ms",
               "components", "components_wh", "system_wh", "unexplained_wh", "bounded_estimates"]
CARBON_KEYS = ["region", "g_per_kwh", "co2_g"]
JOB_KEYS = ["job", "kind", "state", "error", "summary"]
STATS_KEYS = ["n", "mean", "median", "std", "cv", "ci95_low", "ci95_high", "p5", "p95", "min", "max"]
BATCH_KEYS = ["kind", "model", "n", "warmup", "requested", "failed", "bust_cache", "idle_w", "wh_per_1000_etokens",
              "total_wh", "net_total_wh", "prefill_wh_per_1000_input_tokens", "decode_wh_per_1000_output_tokens",
              "ttft_ms", "tokens_per_s", "input_tokens", "output_tokens", "cached_tokens", "runs"]
CROSSOVER_KEYS = ["kind", "model", "crossed", "crossover_step", "crossover_input_tokens", "start_tokens",
                  "step_tokens", "num_ctx", "max_tokens", "steps", "runs"]
STEP_KEYS = ["step", "target_tokens", "run", "input_tokens", "output_tokens", "prefill_wh", "decode_wh", "total_wh",
             "wh_per_1000_etokens", "crossed", "measured"]
CALIBRATION_KEYS = ["kind", "model", "benchmark", "wh_per_1000_input_tokens", "wh_per_1000_output_tokens",
                    "intercept_wh", "r2", "n", "runs"]
PANE_KEYS = ["pane", "run", "model", "alias", "backend", "temperature", "state", "prompt_tokens", "completion_tokens",
             "ttft_ms", "tokens_per_s", "e2e_ms", "total_wh", "error", "answer", "thinking"]

PANE_TEXT = {
    MODEL: ["Alpha", " one", " two", " three"] * 3,
    PLAIN_MODEL: ["Bravo", " uno", " dos", " tres"] * 3,
    SMALL_MODEL: ["Charlie", " eins", " zwei", " drei"] * 3,
}


def is_probe(body):
    """The daemon's token-breakdown probes are non-streamed chats."""
    return isinstance(body, dict) and body.get("stream") is False


def quick_probes(script):
    """A scenario: `script` (a Script or callable(body)) for chats, instant answers for probes."""
    def scenario(body):
        if is_probe(body):
            return Script(tokens=1)
        return script(body) if callable(script) and not isinstance(script, Script) else script
    return scenario


class Screen:
    """A minimal terminal: CR, LF, BS, ESC[K, ESC[J, ESC[nA; other sequences (colours) are dropped
    but recorded in `sequences`."""

    def __init__(self, cols):
        self.cols = cols
        self.lines = [[]]
        self.y = self.x = 0
        self.sequences = []

    def _line(self):
        while len(self.lines) <= self.y:
            self.lines.append([])
        return self.lines[self.y]

    def feed(self, data):
        i = 0
        while i < len(data):
            ch = data[i]
            if ch == ESC:
                m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", data[i:])
                if not m:
                    i += 1
                    continue
                arg, cmd = m.group(1), m.group(2)
                n = int(arg) if arg.isdigit() else 1
                self.sequences.append(m.group(0))
                if cmd == "K":
                    del self._line()[self.x:]
                elif cmd == "J":
                    del self._line()[self.x:]
                    del self.lines[self.y + 1:]
                elif cmd == "A":
                    self.y = max(0, self.y - n)
                i += len(m.group(0))
                continue
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.y += 1
                self.x = 0
                self._line()
            elif ch == "\b":
                self.x = max(0, self.x - 1)
            else:
                if self.x >= self.cols:
                    self.y += 1
                    self.x = 0
                line = self._line()
                while len(line) < self.x:
                    line.append(" ")
                if self.x < len(line):
                    line[self.x] = ch
                else:
                    line.append(ch)
                self.x += 1
            i += 1

    def text(self):
        return "\n".join("".join(line).rstrip() for line in self.lines).rstrip("\n")


class CtlCase(LabTestCase):
    scenario = staticmethod(quick_probes(Script(tokens=8)))

    def ctl_env(self, extra=None):
        env = self.client_env(extra)
        for var in ("NO_COLOR", "COLUMNS", "LINES", "PAGER", "SYSTEMD_PAGER"):
            env.pop(var, None)
        env.update(extra or {})
        return env

    def ctl_json(self, *args, **kwargs):
        proc = self.ctl("--json=short", *args, **kwargs)
        self.assertEqual(len(proc.stdout.splitlines()), 1, proc.stdout)
        return json.loads(proc.stdout)

    def ctl_fail(self, *args, code=1, **kwargs):
        proc = self.ctl(*args, check=False, **kwargs)
        self.assertEqual(proc.returncode, code, (proc.stdout, proc.stderr))
        return proc

    def popen(self, *args, env=None, **kwargs):
        argv = self.ctl_argv() + [str(a) for a in args]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.ctl_env(env), **kwargs)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def pty_run(self, *args, cols=100, rows=30, env=None, timeout=60, on_output=None):
        """Run llmlabctl on a pseudo-terminal (stdin, stdout and stderr). Returns (exit code, Screen,
        raw output). on_output(raw_so_far, pid, master_fd) is called as output arrives."""
        argv = self.ctl_argv() + [str(a) for a in args]
        run_env = self.ctl_env(dict({"COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm"}, **(env or {})))
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(argv[0], argv, run_env)
            finally:
                os._exit(127)
        raw = b""
        deadline = time.monotonic() + timeout * self.timeout_multiplier
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    raw += data
                    if on_output:
                        on_output(raw, pid, fd)
                else:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        pid = None
                        break
            else:
                os.kill(pid, signal.SIGKILL)
                self.fail("llmlabctl on a terminal did not finish: %r" % raw[-2000:])
        finally:
            if pid is not None:
                _, status = os.waitpid(pid, 0)
            os.close(fd)
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
        screen = Screen(cols)
        screen.feed(text)
        return os.waitstatus_to_exitcode(status), screen, text

    def pump(self):
        """Handle the signals received so far."""
        ctx = GLib.MainContext.default()
        while ctx.pending():
            ctx.iteration(False)

    def run_paths(self):
        """Object paths of the runs created so far (RunNew signals), in order."""
        return [s.args[0] for s in self.signals if s.member == "RunNew"]

    def job_paths(self):
        return [s.args[0] for s in self.signals if s.member == "JobNew"]

    def run_prop(self, path, name):
        return self.get_property(path, labtest.RUN_IFACE, name)

    def job_prop(self, path, name):
        return self.get_property(path, labtest.JOB_IFACE, name)

    def wait_decoding(self, count=1, timeout=20):
        """The path of the count-th run, once it streams."""
        path = self.pump_until(lambda: len(self.run_paths()) >= count and self.run_paths()[count - 1], timeout,
                               "run %d" % count)
        self.pump_until(lambda: self.run_prop(path, "State") == "decoding", timeout, "run %d streaming" % count)
        return path

    def assertKeys(self, obj, keys, what):
        """obj has every key of `keys`, in that order, first."""
        self.assertIsInstance(obj, dict, what)
        self.assertEqual(list(obj)[:len(keys)], keys, what)


class RunTest(CtlCase):
    def test_quiet_streams_the_exact_text(self):
        pieces = ["Hel", "lo,", " wörld", " \u2014 ", "tab\there", "\n", "line two", " "]
        self.server.scenario = quick_probes(Script(tokens=pieces, thinking_tokens=["hidden"], token_interval_ms=5))
        proc = self.ctl("run", "-m", MODEL, "-p", "Say hello", "-q")
        # Byte for byte, thinking left out, no newline added when not a terminal.
        self.assertEqual(proc.stdout, "".join(pieces))
        self.assertEqual(proc.stderr, "")

    def test_thinking_and_answer_sections(self):
        self.server.scenario = quick_probes(Script(tokens=["42", "."], thinking_tokens=["Let", " me", " think"]))
        out = self.ctl("run", "-m", MODEL, "-p", "What is six times seven?", "--think").stdout
        head, table = out.rsplit("\n\n", 1)
        self.assertEqual(head, "Thinking:\nLet me think\n\nAnswer:\n42.")
        lines = table.strip("\n").splitlines()
        self.assertEqual(lines[0].split(), ["INPUT", "OUTPUT", "THINKING", "TTFT", "E2E", "SPEED"])
        chat = [c for c in self.server.chats if not is_probe(c.request.body)][-1]
        self.assertEqual(lines[1].split()[:3], [str(chat.metrics["prompt_eval_count"]), "5", "3"])

    def test_run_json_shape(self):
        self.server.scenario = quick_probes(Script(tokens=["Hi", " there"]))
        out = self.ctl_json("run", "-m", PLAIN_MODEL, "-p", "Greet me", "-n", "16")
        self.assertKeys(out, RUN_KEYS, "run")
        self.assertKeys(out["tokens"], TOKENS_KEYS, "tokens")
        self.assertKeys(out["timing"], TIMING_KEYS, "timing")
        self.assertKeys(out["energy"], ENERGY_KEYS, "energy")
        self.assertKeys(out["carbon"], CARBON_KEYS, "carbon")
        self.assertEqual((out["model"], out["backend"], out["state"]), (PLAIN_MODEL, "ollama", "done"))
        self.assertEqual((out["answer"], out["thinking"]), ("Hi there", ""))
        self.assertEqual(out["tokens"]["output"], 2)
        self.assertIsInstance(out["run"], int)
        # Nothing measured: the energy keys are there, null.
        self.assertIsNone(out["energy"]["total_wh"])
        # pretty: indented by two; off: text.
        pretty = self.ctl("--json", "run", "-m", PLAIN_MODEL, "-p", "Greet me").stdout
        self.assertTrue(pretty.startswith('{\n  "run": '), pretty[:40])
        self.assertEqual(list(json.loads(pretty))[:len(RUN_KEYS)], RUN_KEYS)
        off = self.ctl("run", "--json=off", "-m", PLAIN_MODEL, "-p", "Greet me").stdout
        self.assertTrue(off.startswith("Hi there\n"), off)
        bad = self.ctl_fail("--json=yaml", "status")
        self.assertEqual(bad.stderr, "llmlabctl: Invalid --json= mode 'yaml': expected pretty, short or off.\n")
        self.assertEqual(self.ctl("--json=help").stdout, "pretty\nshort\noff\n")

    @lab_options(powersim=True)
    def test_run_energy_json_and_components(self):
        self.server.scenario = quick_probes(Script(tokens=12, load_ms=20, prefill_ms=30, token_interval_ms=10))
        out = self.ctl_json("run-energy", "-m", MODEL, "-p", "Measure me", "--measure=live")
        energy = out["energy"]
        self.assertKeys(energy, ENERGY_KEYS, "energy")
        self.assertIs(energy["measured"], True)
        self.assertGreater(energy["total_wh"], 0)
        ids = [c["id"] for c in energy["components"]]
        self.assertIn("rapl:package-0", ids)
        self.assertIn("rapl:psys", ids)
        # The text shows every component, the whole-system check and what is unexplained.
        text = self.ctl("run-energy", "-m", MODEL, "-p", "Measure me", "--measure=live").stdout
        self.assertRegex(text, r"(?m)^Energy: measured live \(rapl; \d+ samples, every 10 ms\)$")
        self.assertRegex(text, r"(?m)^ +Whole system: [0-9.]+ [µm]?Wh \(rapl:psys, sees the CPU and memory\)$")
        self.assertRegex(text, r"(?m)^ +Unexplained: -?[0-9.]+ [µm]?Wh$")
        self.assertRegex(text, r"(?m)^COMPONENT +DOMAIN +KIND +ENERGY +NOTE$")
        for comp in ids:
            self.assertRegex(text, r"(?m)^%s +\w+ +counter +[0-9.]+ [µm]?Wh" % re.escape(comp))
        self.assertRegex(text, r"(?m)^rapl:psys +psys +counter +[0-9.]+ [µm]?Wh +nested, not summed$")

    @lab_options(powersim={"unreadable": ["intel-rapl:0:0"], "unreadable_mode": "eisdir"})
    def test_unreadable_component_says_why(self):
        text = self.ctl("run-energy", "-m", MODEL, "-p", "Measure me", "--measure=live").stdout
        self.assertRegex(text, r"(?m)^rapl:core-0 +core +counter +- +unreadable: Is a directory; nested, not summed$")
        energy = self.ctl("energy").stdout
        self.assertRegex(energy, r"(?m)^rapl:core-0 +rapl +counter +core +no \(nested\) +unavailable: unreadable: Is a "
                                 r"directory +[0-9.]+ µJ / [0-9.]+ ms +- +0$")


class OutputTest(CtlCase):
    def test_no_legend(self):
        with_legend = self.ctl("models").stdout.splitlines()
        without = self.ctl("models", "--no-legend").stdout.splitlines()
        self.assertEqual(with_legend[0].split(), ["NAME", "BACKEND", "FAMILY", "PARAMS", "QUANT", "SIZE"])
        self.assertEqual([line.split() for line in without], [line.split() for line in with_legend[1:]])
        self.assertEqual([line.split()[0] for line in without], [MODEL, PLAIN_MODEL, SMALL_MODEL])

    def test_tables_fit_columns(self):
        wide = self.ctl("benchmarks").stdout.splitlines()
        self.assertGreater(max(len(line) for line in wide), 100)
        for cols in (80, 100):
            lines = self.ctl("benchmarks", env={"COLUMNS": str(cols)}).stdout.splitlines()
            self.assertEqual(len(lines), len(wide))
            self.assertLessEqual(max(len(line) for line in lines), cols, "\n".join(lines))
            self.assertTrue(any("…" in line for line in lines))
        # Piped output is never shortened.
        self.assertFalse(any("…" in line for line in wide))

    def test_numbers_have_units(self):
        self.server.scenario = quick_probes(Script(tokens=4))
        out = self.ctl("run-energy", "-m", MODEL, "-p", "Estimate me", "--measure=estimate").stdout
        self.assertRegex(out, r"(?m)^ Wh/1000 e-tokens: [0-9.]+ [µm]?Wh$")
        self.assertRegex(out, r"(?m)^ +TTFT: [0-9.]+ (µs|ms|s)$")
        self.assertRegex(out, r"(?m)^ +Speed: [0-9.]+ tok/s$")
        self.assertRegex(out, r"(?m)^ +CO2: [0-9.]+ [µmk]?g CO2 \(GLOBAL, 445 g/kWh\)$")

    def test_color_only_on_a_terminal_and_never_with_no_color(self):
        self.server.scenario = quick_probes(Script(tokens=["Hi"], thinking_tokens=["hmm"]))
        code, screen, raw = self.pty_run("run", "-m", MODEL, "-p", "Think", "--think")
        self.assertEqual(code, 0, raw)
        self.assertIn(ESC + "[2m", raw)  # thinking dimmed
        self.assertIn(ESC + "[1m", raw)  # headers bold
        code, screen, raw = self.pty_run("run", "-m", MODEL, "-p", "Think", "--think", env={"NO_COLOR": "1"})
        self.assertEqual(code, 0, raw)
        self.assertNotRegex(raw, r"\x1b\[[0-9;]*m")
        self.assertIn("Thinking:\nhmm\n\nAnswer:\nHi", screen.text())
        piped = self.ctl("run", "-m", MODEL, "-p", "Think", "--think").stdout
        self.assertNotIn(ESC, piped)

    def test_never_a_pager(self):
        marker = os.path.join(self.tmpdir, "pager-ran")
        pager = "touch %s; cat" % marker
        for i in range(3):
            self.ctl("run", "-m", MODEL, "-p", "x%d" % i, "-q")
        env = {"PAGER": pager, "SYSTEMD_PAGER": pager, "LESS": "", "LINES": "5"}
        code, screen, raw = self.pty_run("history", env=env, rows=5)
        self.assertEqual(code, 0, raw)
        self.assertEqual(len(screen.text().splitlines()), 4)
        self.ctl("history", env=env)
        self.assertFalse(os.path.exists(marker))


class ErrorTest(CtlCase):
    def test_daemon_not_running(self):
        self.assertEqual(self.stop_daemon(), 0)
        self.daemon_expected_exit = 0
        proc = self.ctl_fail("status")
        self.assertEqual(proc.stdout, "")
        lines = proc.stderr.splitlines()
        self.assertRegex(lines[0], r"^llmlabctl: Failed to get the daemon's status: .+")
        self.assertEqual(lines[1], "llmlabctl: Is llmlabd running? Try 'systemctl start llmlab' "
                                   "(or 'llmlabd --user' with --user).")
        # No bus at all.
        proc = self.ctl_fail("status", env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + self.tmpdir + "/none"})
        self.assertEqual(proc.stderr, "llmlabctl: Failed to connect to the session bus: No such file or directory\n"
                                      "llmlabctl: Is llmlabd running? Try 'systemctl start llmlab' "
                                      "(or 'llmlabd --user' with --user).\n")

    def test_daemon_errors_and_hints(self):
        proc = self.ctl_fail("run", "-m", "no-such-model:1b", "-p", "hi")
        self.assertEqual(proc.stderr, "llmlabctl: Failed to run no-such-model:1b: model 'no-such-model:1b' not found\n")
        proc = self.ctl_fail("model-info", "nope")
        self.assertRegex(proc.stderr, r"^llmlabctl: Failed to get information on model nope: .+\n$")
        proc = self.ctl_fail("run", "--backend", "missing", "-m", MODEL, "-p", "hi")
        self.assertRegex(proc.stderr, r"^llmlabctl: Failed to run %s: .*missing.*\n$" % re.escape(MODEL))
        proc = self.ctl_fail("prompts", "no-such-preset")
        self.assertRegex(proc.stderr, r"^llmlabctl: Failed to get preset no-such-preset: .+\n$")

    @lab_options(config_extra={"Backend ollama": {"Url": "http://127.0.0.1:9"}})
    def test_backend_unreachable_hint(self):
        proc = self.ctl_fail("run", "-m", MODEL, "-p", "hi")
        lines = proc.stderr.splitlines()
        self.assertRegex(lines[0], r"^llmlabctl: Failed to run %s: .+" % re.escape(MODEL))
        self.assertEqual(lines[1], "llmlabctl: Is the inference server running? Start it (e.g. 'ollama serve') or "
                                   "check the backends in /etc/llmlab/llmlab.conf.")

    def test_usage_errors(self):
        cases = [
            (("run", "-m", MODEL, "-t", "3", "-p", "x"), "Invalid temperature '3': expected a number from 0 to 2."),
            (("run", "-p", "x"), "No model given: use -m MODEL (see 'llmlabctl models')."),
            (("batch", "-m", MODEL, "-p", "x", "--runs", "0"), "Invalid --runs '0': expected 1…100000."),
            (("compare", "-p", "x"), "No pane given: use -m MODEL (several times) or --pane model=…."),
            (("compare", "-m", "m:7", "-p", "x"), "Invalid pane 'm:7': the temperature must be from 0 to 2."),
            (("compare", "--pane", "alias=x", "-p", "x"), "Invalid --pane 'alias=x': model=MODEL is missing."),
            (("frobnicate",), "Unknown command 'frobnicate'. See 'llmlabctl --help'."),
            (("model-info",), "Too few arguments for 'model-info'. See 'llmlabctl model-info -h'."),
            (("--user", "-H", "host", "status"), "--user cannot be combined with -H: llmlabd on another host is "
                                                  "reached on its system bus."),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                proc = self.ctl_fail(*args)
                self.assertEqual(proc.stderr, "llmlabctl: %s\n" % message)

    def test_machine_transport_error(self):
        proc = self.ctl_fail("--system", "-M", "no-such-container", "status")
        lines = proc.stderr.splitlines()
        self.assertRegex(lines[0], r"^llmlabctl: Failed to connect to the container: .+")
        self.assertEqual(lines[1], "llmlabctl: Is the container running (machinectl list), with llmlabd inside?")


class CancelTest(CtlCase):
    scenario = staticmethod(quick_probes(Script(tokens=400, token_interval_ms=20)))

    def test_ctrl_c_cancels_the_run(self):
        proc = self.popen("run", "-m", MODEL, "-p", "Go on and on")
        path = self.wait_decoding()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 130, err)
        self.assertEqual(err, "llmlabctl: Run cancelled.\n")
        self.assertEqual(self.run_prop(path, "State"), "cancelled")
        self.server.wait_cancelled(1)
        # What streamed was printed, then a newline.
        self.assertTrue(out.endswith("\n") and len(out) > 1, out)

    def test_ctrl_c_cancels_the_batch(self):
        self.server.scenario = quick_probes(Script(tokens=30, token_interval_ms=5))
        proc = self.popen("batch", "-m", MODEL, "-p", "Many", "--runs", "50", "--warmup", "0", "--idle-ms", "0")
        job = self.pump_until(lambda: self.job_paths() and self.job_paths()[0], 20, "the job")
        self.pump_until(lambda: self.job_prop(job, "Progress")[0] >= 2, 30, "two runs done")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 130, err)
        self.assertEqual(err, "llmlabctl: Job cancelled.\n")
        self.assertEqual(self.job_prop(job, "State"), "cancelled")
        done = self.job_prop(job, "Progress")[0]
        n = int(re.search(r"^Batch: (\d+) of 50 runs of qwen3:0.6b finished\.$", out, re.M).group(1))
        self.assertGreaterEqual(n, 2)
        self.assertLessEqual(n, done)
        self.assertIn("\nStored as job %d: 'llmlabctl history --job %d' lists its runs.\n"
                      % (self.job_prop(job, "Id"), self.job_prop(job, "Id")), out)

    def test_ctrl_c_on_a_terminal_shows_progress_then_cancels(self):
        self.server.scenario = quick_probes(Script(tokens=60, token_interval_ms=10))
        sent = []

        def interrupt(raw, pid, fd):
            if not sent and b"2/20 runs" in raw:
                os.kill(pid, signal.SIGINT)
                sent.append(True)

        code, screen, raw = self.pty_run("batch", "-m", MODEL, "-p", "Progress", "--runs", "20", "--warmup", "0",
                                         "--idle-ms", "0", on_output=interrupt)
        self.assertEqual(code, 130, raw)
        self.assertIn("[------------------------------] 0/20 runs · run 1 ", raw)
        self.assertRegex(raw, r"0/20 runs · run 1 decoding, \d+ characters")
        self.assertRegex(raw, r"\[#+-+\] 1/20 runs · ETA [0-9.]+ (ms|s) · run 2 decoding, ~\d+ tokens")
        self.assertIn("cancelling…", raw)
        # The progress line is gone from the final screen.
        self.assertNotIn("runs ·", screen.text())
        self.assertIn("Job cancelled.", screen.text())


class JobsTest(CtlCase):
    powersim = True
    scenario = staticmethod(quick_probes(lambda body: Script(tokens=12 + len(body["messages"][-1]["content"]) % 7,
                                                              load_ms=20, prefill_ms=30, token_interval_ms=8)))

    def test_batch(self):
        out = self.ctl_json("batch", "-m", MODEL, "-p", "Summarise the water cycle.", "--runs", "3", "--warmup",
                            "1", "--idle-ms", "300", "--bust-cache", "--measure=live")
        self.assertKeys(out, JOB_KEYS, "job")
        self.assertEqual((out["kind"], out["state"], out["error"]), ("batch", "done", None))
        s = out["summary"]
        self.assertKeys(s, BATCH_KEYS, "summary")
        self.assertEqual((s["n"], s["warmup"], s["requested"], s["failed"], s["bust_cache"]), (3, 1, 3, 0, True))
        for metric in BATCH_KEYS[8:18]:
            if s[metric] is not None:
                self.assertKeys(s[metric], STATS_KEYS, metric)
        # The statistics are those of the stored runs (warm-up left out).
        stored = self.manager_call("ListRuns", GLib.Variant.new_tuple(lab_dict({"job": out["job"]})), "(aa{sv})")
        measured = sorted((r for r in stored if not r["warmup"]), key=lambda r: r["run"])
        self.assertEqual(len(measured), 3)
        self.assertEqual(len(s["runs"]), 4)
        values = [r["energy"]["total_wh"] for r in measured]
        self.assertAlmostEqual(s["total_wh"]["mean"] / statistics.mean(values), 1, places=13)
        self.assertAlmostEqual(s["total_wh"]["std"] / statistics.stdev(values), 1, places=10)
        self.assertEqual(s["output_tokens"]["min"], min(r["tokens"]["output"] for r in measured))
        # The same job as the daemon's Summary.
        job = "/org/llmlab/Lab1/job/%d" % out["job"]
        # (--json prints reals with 15 significant digits.)
        self.assertAlmostEqual(self.job_prop(job, "Summary")["total_wh"]["mean"] / s["total_wh"]["mean"], 1, places=13)

        text = self.ctl("batch", "-m", MODEL, "-p", "Again.", "--runs", "2", "--warmup", "0", "--idle-ms", "0",
                        "--measure=live").stdout
        lines = text.splitlines()
        self.assertEqual(lines[0], "Batch: 2 of 2 runs of qwen3:0.6b finished.")
        self.assertEqual(lines[1], "")
        self.assertEqual(lines[2].split(), ["METRIC", "N", "MEAN", "MEDIAN", "STD", "CV", "95%", "CI", "P5", "P95",
                                            "MIN", "MAX"])
        self.assertRegex(text, r"(?m)^Wh/1000 e-tokens +2 +[0-9.]+ [µm]?Wh ")
        self.assertRegex(text, r"(?m)^Output tokens +2 ")
        job_id = int(re.search(r"Stored as job (\d+):", text).group(1))
        history = self.ctl("history", "--job", job_id, "--no-legend").stdout.splitlines()
        self.assertEqual(len(history), 2)

    def test_batch_narrow_terminal_leaves_columns_out(self):
        text = self.ctl("batch", "-m", MODEL, "-p", "Narrow.", "--runs", "2", "--warmup", "0", "--idle-ms", "0",
                        "--measure=live", env={"COLUMNS": "80"}).stdout
        table = text.split("\n\n")[1].splitlines()
        self.assertEqual(table[0].split()[:2], ["METRIC", "MEAN"])
        self.assertIn("CV", table[0].split())
        self.assertNotIn("P95", table[0].split())
        self.assertLessEqual(max(len(line) for line in table), 80)
        self.assertIn("(Columns left out to fit the terminal; --json has every statistic.)", text)

    def test_crossover(self):
        def script(body):
            from fake_llm_server import count_prompt_tokens
            n = count_prompt_tokens(body["messages"])
            return Script(tokens=200, load_ms=20, prefill_ms=1.0 * n, token_interval_ms=10, steady_pace=True)
        self.server.scenario = quick_probes(script)
        out = self.ctl_json("crossover", "-m", MODEL, "-p", "Which costs more?", "-n", "21", "--measure=live",
                            "--start-tokens", "50", "--step-tokens", "150", "--max-steps", "6")
        self.assertEqual((out["kind"], out["state"]), ("crossover", "done"))
        s = out["summary"]
        self.assertKeys(s, CROSSOVER_KEYS, "summary")
        self.assertTrue(s["steps"])
        for step in s["steps"]:
            self.assertKeys(step, STEP_KEYS, "step")
        self.assertIs(s["crossed"], True)
        self.assertEqual([st["target_tokens"] for st in s["steps"]], [50 + 150 * i for i in range(len(s["steps"]))])

        text = self.ctl("crossover", "-m", MODEL, "-p", "Which costs more?", "-n", "21", "--measure=live",
                        "--start-tokens", "50", "--step-tokens", "150", "--max-steps", "6").stdout
        self.assertRegex(text, r"^Crossover finder: qwen3:0.6b, num_ctx pinned at \d+, at most 21 output tokens\.\n")
        self.assertRegex(text, r"(?m)^STEP +TARGET +INPUT +OUTPUT +PREFILL +DECODE +TOTAL +Wh/1K +CROSSED$")
        m = re.search(r"(?m)^Prefill energy overtakes decode energy at about (\d+) input tokens "
                      r"\((between steps (\d+) and (\d+)|already at the first step)\)\.$", text)
        self.assertIsNotNone(m, text)
        rows = [line for line in text.splitlines() if re.match(r"^ +\d+ +\d+ +\d+ +21 ", line)]
        self.assertTrue(rows[-1].endswith("yes"), rows)
        self.assertTrue(all(r.endswith("no") for r in rows[:-1]), rows)

    def test_calibrate(self):
        def script(body):
            from fake_llm_server import count_prompt_tokens
            n = count_prompt_tokens(body["messages"])
            return Script(tokens=400, load_ms=20, prefill_ms=0.5 * n, token_interval_ms=3, steady_pace=True)
        self.server.scenario = quick_probes(script)
        out = self.ctl_json("calibrate", "-m", MODEL, "-p", "Describe the sea.", "--runs", "4", timeout=120)
        self.assertEqual((out["kind"], out["state"]), ("calibration", "done"), out)
        s = out["summary"]
        self.assertKeys(s, CALIBRATION_KEYS, "summary")
        self.assertEqual((s["benchmark"], s["n"]), ("calibrated:" + MODEL, 4))
        listed = self.ctl("benchmarks", "--no-legend").stdout
        self.assertRegex(listed, r"(?m)^ +calibrated:qwen3:0.6b +.* calibrated ")

        text = self.ctl("calibrate", "-m", MODEL, "-p", "Describe the sea.", "--runs", "4", timeout=120).stdout
        self.assertRegex(text, r"(?m)^ +Benchmark: calibrated:qwen3:0.6b$")
        self.assertRegex(text, r"(?m)^ Per 1000 input tokens: [0-9.]+ [µm]?Wh$")
        self.assertRegex(text, r"(?m)^ +Fit: R² [01]\.\d{4} over 4 runs$")

    @lab_options(powersim={"layout": "absent"})
    def test_calibrate_needs_counters(self):
        proc = self.ctl_fail("calibrate", "-m", MODEL, "-p", "x")
        self.assertEqual(proc.stderr, "llmlabctl: Failed to run the calibration of qwen3:0.6b: Calibration needs "
                                      "readable energy counters, and this machine has none\n")


class CompareTest(CtlCase):
    scenario = staticmethod(quick_probes(
        lambda body: Script(tokens=PANE_TEXT[body["model"]], load_ms=20, prefill_ms=20, token_interval_ms=15)))

    def test_sequential_text_and_table(self):
        out = self.ctl("compare", "-m", MODEL + "@cold:0.1", "-m", PLAIN_MODEL, "--pane",
                       "model=%s,alias=small,system=Be brief, please" % SMALL_MODEL, "-p", "Say something").stdout
        texts = ["".join(PANE_TEXT[m]) for m in (MODEL, PLAIN_MODEL, SMALL_MODEL)]
        head, table = out.split("\n\nPANE ", 1)
        table = "PANE " + table
        self.assertEqual(head, "[1] cold (qwen3:0.6b, temperature 0.1)\n%s\n\n"
                               "[2] llama3.2:latest\n%s\n\n"
                               "[3] small (gemma3:270m)\n%s" % tuple(texts))
        table, footer = table.split("\n\n", 1)
        self.assertRegex(footer, r"^Stored as job \d+: 'llmlabctl history --job \d+' lists its runs\.\n$")
        rows = [line.split() for line in table.splitlines()]
        self.assertEqual(rows[0], ["PANE", "NAME", "MODEL", "STATE", "PROMPT", "COMPLETION", "TTFT", "SPEED", "TIME"])
        self.assertEqual([r[:4] for r in rows[1:]], [["1", "cold", MODEL, "done"],
                                                     ["2", PLAIN_MODEL, PLAIN_MODEL, "done"],
                                                     ["3", "small", SMALL_MODEL, "done"]])
        self.assertEqual([r[5] for r in rows[1:]], ["12", "12", "12"])
        # The pane settings reached the server.
        chats = {c.request.body["model"]: c.request.body for c in self.server.chats if not is_probe(c.request.body)}
        self.assertEqual(chats[MODEL]["options"]["temperature"], 0.1)
        self.assertEqual(chats[SMALL_MODEL]["messages"][0], {"role": "system", "content": "Be brief, please"})

    def test_json_panes_with_text_and_a_pane_that_cannot_start(self):
        out = self.ctl_json("compare", "-m", MODEL, "-m", "no-such:model@ghost", "-m", SMALL_MODEL + ":0.5",
                            "-p", "Say something", "-n", "20")
        self.assertKeys(out, JOB_KEYS, "job")
        self.assertEqual((out["kind"], out["state"]), ("comparison", "done"))
        panes = out["summary"]["panes"]
        self.assertEqual(len(panes), 3)
        for p in panes:
            self.assertKeys(p, PANE_KEYS, "pane")
        self.assertEqual([p["pane"] for p in panes], [0, 1, 2])
        self.assertEqual([p["state"] for p in panes], ["done", "not started", "done"])
        self.assertEqual([p["alias"] for p in panes], [MODEL, "ghost", SMALL_MODEL])
        self.assertEqual(panes[0]["answer"], "".join(PANE_TEXT[MODEL]))
        self.assertEqual(panes[2]["answer"], "".join(PANE_TEXT[SMALL_MODEL]))
        self.assertEqual(panes[2]["temperature"], 0.5)
        self.assertIsNone(panes[1]["run"])
        self.assertIsNone(panes[1]["answer"])
        self.assertRegex(panes[1]["error"], "no-such:model")
        self.assertEqual(panes[0]["completion_tokens"], 12)
        self.assertIsInstance(panes[0]["prompt_tokens"], int)
        # The daemon's own summary numbers the panes the same way (the pane that could not start
        # keeps its number).
        summary = self.job_prop("/org/llmlab/Lab1/job/%d" % out["job"], "Summary")
        self.assertEqual([(p["pane"], p["run"]) for p in summary["panes"]],
                         [(0, panes[0]["run"]), (2, panes[2]["run"])])
        self.assertEqual([p["pane"] for p in summary["failed_panes"]], [1])
        # The text: the failed pane in its place, the reason under the table.
        text = self.ctl("compare", "-m", MODEL, "-m", "no-such:model@ghost", "-p", "Say something").stdout
        self.assertIn("\n[2] ghost (no-such:model)\n(not started)\n", text)
        self.assertRegex(text, r"(?m)^ +2 +ghost +no-such:model +not started +- +- +- +- +-$")
        self.assertRegex(text, r"(?m)^Pane 2: .*no-such:model")

    def test_stop_one_pane(self):
        self.server.scenario = quick_probes(
            lambda body: Script(tokens=PANE_TEXT[body["model"]] * (20 if body["model"] == PLAIN_MODEL else 1),
                                token_interval_ms=20))
        proc = self.popen("compare", "-m", MODEL, "-m", PLAIN_MODEL, "-m", SMALL_MODEL, "-p", "Go")
        runs = self.pump_until(lambda: len(self.run_paths()) >= 3 and self.run_paths(), 20, "three panes")
        second = [p for p in runs if self.run_prop(p, "Model") == PLAIN_MODEL][0]
        self.pump_until(lambda: self.run_prop(second, "State") == "decoding", 20, "the second pane streaming")
        self.call(second, labtest.RUN_IFACE, "Cancel")
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        part = out.split("[2] llama3.2:latest\n", 1)[1].split("\n\n[3]", 1)[0]
        body, footer = part.rsplit("\n", 1)
        self.assertEqual(footer, "(cancelled)")
        self.assertTrue("".join(PANE_TEXT[PLAIN_MODEL] * 20).startswith(body) and 0 < len(body), body)
        self.assertRegex(out, r"(?m)^ +2 +llama3.2:latest +llama3.2:latest +cancelled ")
        self.assertRegex(out, r"(?m)^ +3 +gemma3:270m +gemma3:270m +done ")

    def test_ctrl_c_stops_all_panes(self):
        self.server.scenario = quick_probes(Script(tokens=400, token_interval_ms=20))
        proc = self.popen("--json=short", "compare", "-m", MODEL, "-m", PLAIN_MODEL, "-p", "Go")
        self.wait_decoding(1)
        self.wait_decoding(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 130, err)
        result = json.loads(out)
        self.assertEqual(result["state"], "cancelled")
        self.assertEqual([p["state"] for p in result["summary"]["panes"]], ["cancelled", "cancelled"])
        self.server.wait_cancelled(2)

    def test_side_by_side_on_a_wide_terminal(self):
        code, screen, raw = self.pty_run("compare", "-m", MODEL + "@cold:0.1", "-m", PLAIN_MODEL, "-m", SMALL_MODEL,
                                         "-p", "Say something", cols=120, rows=30)
        self.assertEqual(code, 0, raw)
        lines = screen.text().splitlines()
        self.assertRegex(lines[0], r"^\[1\] cold +│ \[2\] llama3.2:latest +│ \[3\] gemma3:270m$")
        self.assertRegex(lines[1], r"^done · qwen3:0.6b · temperature 0.1 +│ done +│ done$")
        self.assertRegex(lines[2], r"^─+ │ ─+ │ ─+$")
        # Each column holds its pane's text, wrapped at 38 columns.
        columns = [[], [], []]
        for line in lines[3:]:
            if not line.strip():
                break
            for i, cell in enumerate(line.split(" │ ")):
                columns[i].append(cell.rstrip())
        for i, model in enumerate((MODEL, PLAIN_MODEL, SMALL_MODEL)):
            self.assertEqual(" ".join(c for c in columns[i] if c), "".join(PANE_TEXT[model]))
            self.assertTrue(all(len(c) <= 38 for c in columns[i]))
        self.assertRegex(screen.text(), r"(?m)^PANE +NAME +MODEL +STATE +PROMPT +COMPLETION +TTFT +SPEED +TIME$")
        # The live view offered the keys, then was replaced.
        self.assertIn("Keys 1…3 stop a pane, Ctrl-C stops all.", raw)
        self.assertNotIn("Keys 1", screen.text())

    def test_narrow_terminal_one_after_another(self):
        code, screen, raw = self.pty_run("compare", "-m", MODEL, "-m", PLAIN_MODEL, "-m", SMALL_MODEL, "-p", "Hi",
                                         cols=60, rows=30, env={"NO_COLOR": "1"})
        self.assertEqual(code, 0, raw)
        self.assertIn("[1] qwen3:0.6b\n%s\n\n[2] llama3.2:latest\n" % "".join(PANE_TEXT[MODEL]), screen.text())
        self.assertNotIn("│", screen.text())

    def test_key_stops_one_pane_on_a_terminal(self):
        self.server.scenario = quick_probes(
            lambda body: Script(tokens=PANE_TEXT[body["model"]] * (30 if body["model"] == PLAIN_MODEL else 1),
                                token_interval_ms=20))
        sent = []

        def press(raw, pid, fd):
            self.pump()
            if not sent and b"Keys 1" in raw and len(self.run_paths()) >= 2:
                second = self.run_paths()[1]
                if self.run_prop(second, "State") == "decoding":
                    os.write(fd, b"2")
                    sent.append(True)

        code, screen, raw = self.pty_run("compare", "-m", MODEL, "-m", PLAIN_MODEL, "-p", "Go", cols=100,
                                         on_output=press)
        self.assertEqual(code, 0, raw)
        self.assertTrue(sent)
        self.assertRegex(screen.text(), r"(?m)^ +2 +llama3.2:latest +llama3.2:latest +cancelled ")
        self.assertRegex(screen.text(), r"(?m)^ +1 +qwen3:0.6b +qwen3:0.6b +done ")

    @lab_options(powersim=True)
    def test_measured_panes_show_energy(self):
        text = self.ctl("compare", "-m", MODEL, "-m", SMALL_MODEL, "-p", "Hi", "--measure=live").stdout
        self.assertRegex(text, r"(?m)^PANE +NAME +MODEL +STATE +PROMPT +COMPLETION +TTFT +SPEED +TIME +ENERGY$")
        self.assertRegex(text, r"(?m)^ +1 +qwen3:0.6b .* [0-9.]+ [µm]?Wh$")


class ResultsTest(CtlCase):
    def test_history_session_and_benchmarks(self):
        self.server.scenario = quick_probes(Script(tokens=5))
        for i in range(3):
            self.ctl("run-energy", "-m", MODEL if i < 2 else SMALL_MODEL, "-p", "n%d" % i, "--measure=estimate", "-q")
        hist = self.ctl("history").stdout.splitlines()
        self.assertEqual(hist[0].split(), ["ID", "DATE", "MODEL", "TOKENS", "Wh", "Wh/1K", "STATE"])
        self.assertEqual([line.split()[3] for line in hist[1:]], [SMALL_MODEL, MODEL, MODEL])
        self.assertEqual(len(self.ctl("history", "--model", MODEL, "--no-legend").stdout.splitlines()), 2)
        self.assertEqual(len(self.ctl("history", "--limit", "1", "--no-legend").stdout.splitlines()), 1)
        runs = self.ctl_json("history")
        self.assertEqual([r["model"] for r in runs], [SMALL_MODEL, MODEL, MODEL])

        session = self.ctl_json("session")
        self.assertEqual(session["runs"], 3)
        text = self.ctl("session").stdout
        self.assertRegex(text, r"(?m)^ +Runs: 3 \(0 measured\)$")
        self.ctl("session", "clear")
        self.assertEqual(self.ctl_json("session")["runs"], 0)
        self.assertEqual(len(self.ctl_json("history")), 3)

        self.ctl("benchmarks", "add", "mine", "--input", "0.5", "--output", "2", "--name", "My machine")
        listed = self.ctl("benchmarks", "--no-legend").stdout
        self.assertRegex(listed, r"(?m)^ +mine +My machine +500 mWh +2.00 Wh +custom")
        self.ctl("benchmarks", "set-default", "mine")
        self.assertRegex(self.ctl("benchmarks", "--no-legend").stdout, r"(?m)^\* +mine ")
        self.assertEqual(self.ctl_json("status")["default_benchmark"], "mine")
        self.ctl("benchmarks", "set-default", "aes:meta-llama-3.1-8b")
        self.ctl("benchmarks", "remove", "mine")
        self.assertNotIn(" mine ", self.ctl("benchmarks").stdout)

    def test_status_and_energy_json(self):
        status = self.ctl_json("status")
        self.assertEqual(list(status), ["version", "backends", "energy_sources", "default_benchmark", "region",
                                        "grid_intensity", "sample_interval_ms", "queue_length"])
        energy = self.ctl_json("energy")
        self.assertEqual(sorted(energy), ["idle_zones", "measuring", "sources"] + (["idle_w"] if "idle_w" in energy
                                                                                     else []))

    @lab_options(powersim=True)
    def test_energy_shows_state_summed_and_resolution(self):
        text = self.ctl("energy").stdout
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ["ZONE", "SOURCE", "KIND", "DOMAIN", "SUMMED", "STATE", "RESOLUTION",
                                            "ENERGY", "WRAPS"])
        self.assertRegex(text, r"(?m)^rapl:package-0 +rapl +counter +package +yes +available +[0-9.]+ µJ / "
                               r"[0-9.]+ ms +[0-9.]+ [µm]?Wh +\d+$")
        self.assertRegex(text, r"(?m)^rapl:core-0 +rapl +counter +core +no \(nested\) +available ")
        narrow = self.ctl("energy", env={"COLUMNS": "70"}).stdout.splitlines()
        self.assertEqual(narrow[0].split(), ["ZONE", "KIND", "DOMAIN", "SUMMED", "STATE", "ENERGY"])

    def test_export_to_a_file_is_atomic(self):
        self.server.scenario = quick_probes(Script(tokens=5))
        for i in range(2):
            self.ctl("run-energy", "-m", MODEL, "-p", "e%d" % i, "--measure=estimate", "-q")
        path = os.path.join(self.tmpdir, "runs.csv")
        with open(path, "w") as f:
            f.write("old contents\n")
        with open(path) as old_reader:
            old_inode = os.fstat(old_reader.fileno()).st_ino
            self.ctl("export", "--format", "csv", "-o", path)
            # A reader of the old file still sees all of it: the new file was renamed over it.
            self.assertEqual(old_reader.read(), "old contents\n")
        self.assertNotEqual(os.stat(path).st_ino, old_inode)
        with open(path, newline="") as f:
            data = f.read()
        self.assertTrue(data.endswith("\r\n"))
        self.assertEqual(len(data.rstrip("\r\n").split("\r\n")), 3)
        # The same bytes as to stdout (read here with universal newlines).
        self.assertEqual(data.replace("\r\n", "\n"), self.ctl("export", "--format", "csv").stdout)
        self.assertFalse([n for n in os.listdir(self.tmpdir) if n.startswith(".#runs.csv")])
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o666 & ~current_umask())
        # JSON export: complete records.
        records = json.loads(self.ctl("export").stdout)
        self.assertEqual(len(records), 2)
        self.assertEqual({r["request"]["user_prompt"] for r in records}, {"e0", "e1"})
        # A directory that does not exist: an error, nothing written.
        proc = self.ctl_fail("export", "-o", os.path.join(self.tmpdir, "missing", "x.json"))
        self.assertRegex(proc.stderr, r"^llmlabctl: Failed to create a temporary file for .*x\.json: No such file "
                                      r"or directory\n$")


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


if __name__ == "__main__":
    labtest.main()
