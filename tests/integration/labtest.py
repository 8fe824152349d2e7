"""Integration test harness: a private D-Bus bus, the fake inference server, optionally the power
simulator, and the real llmlabd started from the build tree, per test.

    import labtest
    from labtest import LabTestCase, Script

    class RunTest(LabTestCase):
        def test_simple_run(self):
            self.server.scenario = Script(tokens=["Hello", " world"])
            path = self.start_run({"model": "qwen3:0.6b", "user_prompt": "hi", "max_tokens": 16})
            result, metrics, chunks = self.wait_run(path)
            self.assertEqual(result, "done")
            self.assertEqual(labtest.chunk_text(chunks), ("Hello world", ""))

    if __name__ == "__main__":
        labtest.main()

Per-class knobs (class attributes) and per-test overrides (the @lab_options decorator):
    models            FakeModel list for the fake server (None: the defaults)
    scenario          the fake server's initial scenario (Script, callable or list)
    server_kwargs     more FakeLLMServer arguments
    powersim          None: no simulator, LLMLAB_SYSFS_ROOT is an empty directory;
                      True or a dict of PowerSim arguments: a simulator drives the server's phases
    config_extra      {section: {key: value or None}} merged into the daemon config (None deletes;
                      a section set to None is removed)
    autostart_daemon  False: the test calls self.start_daemon() itself
    daemon_args       arguments after the binary (default ["--user", "-v"])
    use_wrapper       False: ignore LLMLAB_TEST_WRAPPER (for daemons that are not llmlabd)

Environment: LLMLAB_BUILD_ROOT, LLMLAB_SOURCE_ROOT (set by meson), LLMLAB_TEST_WRAPPER (e.g.
"valgrind --error-exitcode=1 --leak-check=full": prefixed to the daemon, timeouts x5),
LLMLAB_TEST_TIMEOUT_MULTIPLIER, LLMLAB_TEST_VERBOSE=1 (print the daemon log even on success).

Runs under /usr/bin/python3 with python3-gi; standard library otherwise.
"""

import collections
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("LLMLAB_SOURCE_ROOT") or os.path.dirname(os.path.dirname(_HERE))
FIXTURES_DIR = os.path.join(SOURCE_ROOT, "tests", "fixtures")
if FIXTURES_DIR not in sys.path:
    sys.path.insert(0, FIXTURES_DIR)

import gi  # noqa: E402

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from fake_llm_server import DEFAULT_MODELS, FakeLLMServer, FakeModel, Script  # noqa: E402,F401
from powersim import PowerSim  # noqa: E402

__all__ = [
    "LabTestCase", "lab_options", "lab_dict", "to_variant", "chunk_text", "main", "Script", "FakeModel",
    "FakeLLMServer", "DEFAULT_MODELS", "PowerSim", "BUS_NAME", "MANAGER_PATH", "MANAGER_IFACE", "RUN_IFACE",
    "JOB_IFACE", "KEY_TYPES", "Signal",
]

BUS_NAME = "org.llmlab.Lab1"
MANAGER_PATH = "/org/llmlab/Lab1"
MANAGER_IFACE = "org.llmlab.Lab1.Manager"
RUN_IFACE = "org.llmlab.Lab1.Run"
JOB_IFACE = "org.llmlab.Lab1.Job"
ERROR_PREFIX = "org.llmlab.Lab1.Error."

# GVariant types of the keys of the a{sv} dictionaries in dbus/*.xml (requests, panes, options,
# filters, benchmarks). Keys not listed are typed from the Python value (see to_variant).
KEY_TYPES = {
    # StartRun request and comparison panes
    "model": "s", "backend": "s", "user_prompt": "s", "system_prompt": "s", "system_prompt_id": "s",
    "conversation_context": "s", "injections": "a(ss)", "temperature": "d", "max_tokens": "u", "seed": "x",
    "num_ctx": "u", "include_thinking": "b", "measure": "s", "benchmark": "s", "region": "s", "label": "s",
    "alias": "s",
    # StartBatch / StartCrossover / Calibrate options
    "runs": "u", "warmup": "u", "bust_cache": "b", "idle_ms": "u", "start_tokens": "u", "step_tokens": "u",
    "max_steps": "u",
    # ListRuns / ExportRuns filter
    "since": "t", "limit": "u", "job": "t", "all_users": "b",
    # AddBenchmark
    "id": "s", "name": "s", "description": "s", "source": "s", "wh_per_1000_input_tokens": "d",
    "wh_per_1000_output_tokens": "d",
}

Signal = collections.namedtuple("Signal", ["path", "interface", "member", "args", "params", "time_ns"])


def to_variant(key, value, types=None):
    """A GLib.Variant for one a{sv} value: the type of KEY_TYPES (or `types`) for the key, else
    from the Python type (bool b, int x, float d, str s, list of str as, list of 2-tuples a(ss),
    dict a{sv}). A GLib.Variant is passed through (for deliberately wrong types)."""
    if isinstance(value, GLib.Variant):
        return value
    vtype = (types or {}).get(key) or KEY_TYPES.get(key)
    if vtype is None:
        if isinstance(value, bool):
            vtype = "b"
        elif isinstance(value, int):
            vtype = "x"
        elif isinstance(value, float):
            vtype = "d"
        elif isinstance(value, str):
            vtype = "s"
        elif isinstance(value, dict):
            return lab_dict(value, types)
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            vtype = "as"
        elif isinstance(value, (list, tuple)):
            vtype = "a(ss)"
        else:
            raise TypeError("no GVariant type for %s=%r" % (key, value))
    if vtype == "d":
        value = float(value)
    elif vtype == "a(ss)":
        value = [tuple(v) for v in value]
    return GLib.Variant(vtype, value)


def lab_dict(d, types=None):
    """A Python dict as GLib.Variant('a{sv}') (see to_variant)."""
    return GLib.Variant("a{sv}", {k: to_variant(k, v, types) for k, v in (d or {}).items()})


def chunk_text(chunks):
    """(answer, thinking) joined from wait_run()'s chunk list."""
    answer = "".join(text for _, text, thinking in chunks if not thinking)
    thinking = "".join(text for _, text, th in chunks if th)
    return answer, thinking


def lab_options(**options):
    """Per-test overrides of the class knobs, e.g.
    @lab_options(powersim={"layout": "amd"}, config_extra={"Energy": {"SampleIntervalMs": "5"}})."""
    def decorate(fn):
        fn._lab_options = options
        return fn
    return decorate


def _timeout_multiplier():
    value = os.environ.get("LLMLAB_TEST_TIMEOUT_MULTIPLIER")
    if value:
        return float(value)
    return 5.0 if os.environ.get("LLMLAB_TEST_WRAPPER") else 1.0


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- any uid may connect: tests run a second client as another user -->
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="reply_timeout">600000</limit>
</busconfig>
"""


class _NotifyListener:
    """A NOTIFY_SOCKET for the daemon: records every sd_notify() message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.messages = []  # (monotonic ns, {key: value})
        self.cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            fields = {}
            for line in data.decode("utf-8", "replace").splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.cond:
                self.messages.append((time.monotonic_ns(), fields))
                self.cond.notify_all()

    def wait_for(self, key, value=None, timeout=20.0, alive=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, fields in self.messages:
                    if key in fields and (value is None or fields[key] == value):
                        return fields
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if alive is not None and not alive():
                    return None
                self.cond.wait(min(remaining, 0.1))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(2)


_KNOBS = ("models", "scenario", "server_kwargs", "powersim", "config_extra", "autostart_daemon", "daemon_args",
          "daemon_ready_timeout", "use_wrapper")


class LabTestCase(unittest.TestCase):
    """Base class of the integration tests (see the module docstring)."""

    models = None
    scenario = None
    server_kwargs = {}
    powersim = None
    config_extra = {}
    autostart_daemon = True
    daemon_args = ["--user", "-v"]
    daemon_ready_timeout = 20.0
    use_wrapper = True

    # ------------------------------------------------------------------ setup / teardown

    def setUp(self):
        super().setUp()
        opts = getattr(getattr(self, self._testMethodName, None), "_lab_options", {})
        for key, value in opts.items():
            if key not in _KNOBS:
                raise AttributeError("lab_options: unknown option %r (known: %s)" % (key, ", ".join(_KNOBS)))
            setattr(self, key, value)
        self.timeout_multiplier = _timeout_multiplier()
        self.build_root = os.environ.get("LLMLAB_BUILD_ROOT")
        self.source_root = SOURCE_ROOT
        self.daemon = None
        self.daemon_killed = False
        self.daemon_expected_exit = None
        self.daemon_unique_name = None
        self.signals = []
        self._signal_sub = None
        self._log_file = None
        self._daemon_cleanup_registered = False
        # Cleanups run last-in first-out: the temporary directory goes last, the log is printed
        # just before, after the daemon, the fixtures and the bus have been stopped.
        self.tmpdir = tempfile.mkdtemp(prefix="llmlab-test-")
        os.chmod(self.tmpdir, 0o755)
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.addCleanup(self._print_log_if_needed)
        self.state_dir = self._mkdir("state")
        self.runtime_dir = self._mkdir("runtime", 0o700)
        self.config_path = os.path.join(self.tmpdir, "llmlab.conf")
        self.daemon_log_path = os.path.join(self.tmpdir, "llmlabd.log")
        self._start_bus()
        self._start_fixtures()
        self.notify = _NotifyListener(os.path.join(self.tmpdir, "notify"))
        self.addCleanup(self.notify.close)
        if self.autostart_daemon:
            self.start_daemon()

    def _mkdir(self, name, mode=0o755):
        path = os.path.join(self.tmpdir, name)
        os.mkdir(path)
        os.chmod(path, mode)
        return path

    def _start_bus(self):
        bus_dir = self._mkdir("bus")
        conf = os.path.join(self.tmpdir, "bus.conf")
        self._bus_log = open(os.path.join(self.tmpdir, "dbus-daemon.log"), "ab")
        self.addCleanup(self._bus_log.close)
        with open(conf, "w") as f:
            f.write(_BUS_CONFIG.format(socket=os.path.join(bus_dir, "socket")))
        self.bus_process = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + conf, "--print-address=1", "--nofork", "--nopidfile"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=self._bus_log, close_fds=True)
        self.addCleanup(self._stop_process, self.bus_process, "dbus-daemon")
        line = self.bus_process.stdout.readline().decode().strip()
        if not line:
            self.fail("dbus-daemon did not print its address")
        self.bus_address = line
        os.chmod(os.path.join(bus_dir, "socket"), 0o777)
        self.bus = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.bus.set_exit_on_close(False)
        self.addCleanup(self._close_bus)

    def _close_bus(self):
        if self._signal_sub is not None:
            self.bus.signal_unsubscribe(self._signal_sub)
            self._signal_sub = None
        self.bus.close_sync(None)
        ctx = GLib.MainContext.default()
        while ctx.pending():
            ctx.iteration(False)

    def _start_fixtures(self):
        self.sim = None
        self.sysfs_root = self._mkdir("sysfs")
        if self.powersim:
            kwargs = dict(self.powersim) if isinstance(self.powersim, dict) else {}
            self.sim = PowerSim(**kwargs)
            self.sysfs_root = self.sim.root
            self.sim.start()
            self.addCleanup(self.sim.stop)
        kwargs = dict(self.server_kwargs)
        if self.models is not None:
            kwargs["models"] = self.models
        if self.sim is not None:
            kwargs.setdefault("power", self.sim)
        self.server = FakeLLMServer(scenario=self.scenario, **kwargs)
        self.server.start()
        self.addCleanup(self.server.stop)

    @staticmethod
    def _stop_process(proc, what, timeout=5.0):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream:
                stream.close()

    def _has_failed(self):
        """Whether this test (or a subtest, a tearDown or an earlier cleanup) failed so far."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        for test, _ in list(getattr(result, "failures", [])) + list(getattr(result, "errors", [])):
            if getattr(test, "test_case", test) is self:
                return True
        return False

    def _print_log_if_needed(self):
        if not (self._has_failed() or os.environ.get("LLMLAB_TEST_VERBOSE") == "1"):
            return
        if os.path.exists(self.daemon_log_path):
            sys.stderr.write("\n----- llmlabd log (%s) -----\n%s----- end of llmlabd log -----\n"
                             % (self.id(), self.daemon_log()))

    # ------------------------------------------------------------------ config

    def base_config(self):
        """The config before config_extra: the fake server as backend "ollama"."""
        return {
            "Backend ollama": {"Kind": "ollama", "Url": self.server.url},
            "Energy": {"SampleIntervalMs": "10"},
            "Carbon": {"Region": "GLOBAL"},
        }

    def config(self):
        """The merged config as {section: {key: value}}."""
        conf = self.base_config()
        for section, keys in (self.config_extra or {}).items():
            if keys is None:
                conf.pop(section, None)
                continue
            target = conf.setdefault(section, {})
            for key, value in keys.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        return conf

    def write_config(self, text=None):
        """Write the daemon config (GKeyFile) from config(), or exactly `text`."""
        if text is None:
            lines = []
            for section, keys in self.config().items():
                lines.append("[%s]" % section)
                lines += ["%s=%s" % (k, v) for k, v in keys.items()]
                lines.append("")
            text = "\n".join(lines)
        with open(self.config_path, "w") as f:
            f.write(text)
        return self.config_path

    # ------------------------------------------------------------------ the daemon

    def daemon_argv(self):
        """The daemon command line (LLMLAB_TEST_WRAPPER is prefixed by start_daemon())."""
        if not self.build_root:
            self.fail("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        binary = os.path.join(self.build_root, "daemon", "llmlabd")
        if not os.access(binary, os.X_OK):
            self.fail("%s is not built" % binary)
        return [binary] + list(self.daemon_args)

    def client_env(self, extra=None):
        """Environment for clients and the daemon: the private bus, no proxies."""
        env = dict(os.environ)
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                    "no_proxy", "NO_PROXY"):
            env.pop(var, None)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env["LANG"] = env["LC_ALL"] = "C.UTF-8"
        env.update(extra or {})
        return env

    def daemon_env(self, extra=None):
        env = self.client_env()
        env.update({
            "LLMLAB_CONFIG": self.config_path,
            "STATE_DIRECTORY": self.state_dir,
            "RUNTIME_DIRECTORY": self.runtime_dir,
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "LLMLAB_SYSFS_ROOT": self.sysfs_root,
            "LLMLAB_DATA_DIR": self.source_root,
            "NOTIFY_SOCKET": self.notify.path,
        })
        env.pop("JOURNAL_STREAM", None)
        env.pop("INVOCATION_ID", None)
        env.pop("WATCHDOG_USEC", None)
        env.update(extra or {})
        return env

    def start_daemon(self, extra_env=None, args=None, wait=True, write_config=True):
        """Start the daemon (writing the config first); with wait, until READY=1 and the bus name."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.fail("the daemon is already running")
        if write_config:
            self.write_config()
        argv = self.daemon_argv() if args is None else args
        wrapper = os.environ.get("LLMLAB_TEST_WRAPPER") if self.use_wrapper else None
        if wrapper:
            argv = shlex.split(wrapper) + argv
        with self.notify.cond:
            self.notify.messages.clear()
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(self.daemon_log_path, "ab")
        self._log_file.write(("=== %s\n" % " ".join(argv)).encode())
        self._log_file.flush()
        self.daemon = subprocess.Popen(argv, env=self.daemon_env(extra_env), stdin=subprocess.DEVNULL,
                                       stdout=self._log_file, stderr=subprocess.STDOUT, close_fds=True)
        self.daemon_killed = False
        self.daemon_expected_exit = None
        if not self._daemon_cleanup_registered:
            self._daemon_cleanup_registered = True
            self.addCleanup(self._cleanup_daemon)
        if wait:
            self.wait_daemon_ready()
        return self.daemon

    def wait_daemon_ready(self, timeout=None):
        """Wait for READY=1 on the notify socket and for the bus name; subscribe to its signals."""
        timeout = (timeout or self.daemon_ready_timeout) * self.timeout_multiplier
        fields = self.notify.wait_for("READY", "1", timeout, alive=lambda: self.daemon.poll() is None)
        if fields is None:
            if self.daemon.poll() is not None:
                self.fail("llmlabd exited with %d before READY=1" % self.daemon.returncode)
            self.fail("llmlabd did not send READY=1 within %.0f s" % timeout)
        owner = self.pump_until(self._name_owner, timeout, "the name %s on the bus" % BUS_NAME)
        self.daemon_unique_name = owner
        if self._signal_sub is not None:
            self.bus.signal_unsubscribe(self._signal_sub)
        self._signal_sub = self.bus.signal_subscribe(owner, None, None, None, None, Gio.DBusSignalFlags.NONE,
                                                     self._on_signal)
        # A round trip so that the match rule is in place before the test goes on.
        self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
                           None, None, Gio.DBusCallFlags.NONE, -1, None)

    def _name_owner(self):
        try:
            reply = self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetNameOwner", GLib.Variant("(s)", (BUS_NAME,)),
                                       GLib.VariantType("(s)"), Gio.DBusCallFlags.NONE, -1, None)
            return reply.unpack()[0]
        except GLib.Error:
            return None

    def _on_signal(self, conn, sender, path, iface, member, params):
        self.signals.append(Signal(path, iface, member, params.unpack(), params, time.monotonic_ns()))

    def stop_daemon(self, sig=signal.SIGTERM, timeout=10.0):
        """Send `sig` and wait for the exit; returns the exit code (negative: killed by a signal)."""
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(timeout * self.timeout_multiplier)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                self.daemon_killed = True
                self.fail("llmlabd did not exit within %.0f s of signal %d" % (timeout, sig))
        return self.daemon.returncode

    def kill_daemon(self, sig=signal.SIGKILL):
        """Kill the daemon on purpose (teardown then does not check its exit code)."""
        self.daemon_killed = True
        return self.stop_daemon(sig)

    def restart_daemon(self, **kwargs):
        """Stop the daemon (asserting exit 0) and start it again (e.g. after changing config_extra)."""
        code = self.stop_daemon()
        self.assertEqual(code, 0, "llmlabd exited with %s" % code)
        return self.start_daemon(**kwargs)

    def _cleanup_daemon(self):
        if self.daemon is None:
            return
        already_exited = self.daemon.poll() is not None
        try:
            code = self.stop_daemon()
        finally:
            if self._log_file:
                self._log_file.close()
                self._log_file = None
        if self.daemon_killed:
            return
        if self.daemon_expected_exit is not None:
            self.assertEqual(code, self.daemon_expected_exit, "llmlabd exit code")
            return
        if already_exited:
            self.fail("llmlabd exited by itself during the test with code %s" % code)
        self.assertEqual(code, 0, "llmlabd did not exit cleanly on SIGTERM (code %s)" % code)

    def daemon_log(self):
        try:
            with open(self.daemon_log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text, timeout=10.0):
        """Wait until the daemon log contains `text`; returns the log."""
        return self.pump_until(lambda: self.daemon_log() if text in self.daemon_log() else None, timeout,
                               "%r in the daemon log" % text)

    # ------------------------------------------------------------------ main loop helpers

    def pump_until(self, condition, timeout=10.0, what="a condition"):
        """Run the GLib main context (signals) until condition() is truthy; returns its value.
        Fails when the timeout passes or the daemon dies unexpectedly."""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout * self.timeout_multiplier
        while True:
            while ctx.pending():
                ctx.iteration(False)
            value = condition()
            if value:
                return value
            if (self.daemon is not None and self.daemon.poll() is not None and not self.daemon_killed
                    and self.daemon_expected_exit is None):
                self.fail("llmlabd exited with %s while waiting for %s" % (self.daemon.returncode, what))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail("timed out after %.1f s waiting for %s" % (timeout * self.timeout_multiplier, what))
            source = GLib.timeout_source_new(int(min(remaining, 0.05) * 1000) + 1)
            source.set_callback(lambda *a: False)
            source.attach(ctx)
            ctx.iteration(True)
            source.destroy()

    def wait_for_signal(self, member, path=None, interface=None, match=None, timeout=10.0, since=0):
        """The first recorded signal (index >= since) with this member (and path, interface, and
        match(args) true). Signals from the daemon are recorded from READY on, so a signal sent
        before this call is found too."""
        def find():
            for sig in self.signals[since:]:
                if sig.member != member or (path and sig.path != path) or (interface and sig.interface != interface):
                    continue
                if match is None or match(sig.args):
                    return sig
            return None
        return self.pump_until(find, timeout, "signal %s on %s" % (member, path or "any path"))

    # ------------------------------------------------------------------ D-Bus calls

    def call(self, path, iface, method, args=None, reply_type=None, timeout=60.0, dest=BUS_NAME):
        """Call a method; args a GLib.Variant tuple (or None). Returns the unpacked reply: None for
        no value, the value for one, a tuple for several. D-Bus errors raise GLib.Error (see
        assertDBusError)."""
        reply = self.bus.call_sync(dest, path, iface, method, args,
                                   GLib.VariantType(reply_type) if reply_type else None,
                                   Gio.DBusCallFlags.NONE, int(timeout * 1000 * self.timeout_multiplier), None)
        values = reply.unpack() if reply is not None else ()
        if len(values) == 0:
            return None
        return values[0] if len(values) == 1 else values

    def manager_call(self, method, args=None, reply_type=None, **kwargs):
        return self.call(MANAGER_PATH, MANAGER_IFACE, method, args, reply_type, **kwargs)

    def get_property(self, path, iface, name):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (iface, name)),
                         "(v)")

    def get_all_properties(self, path, iface):
        return self.call(path, "org.freedesktop.DBus.Properties", "GetAll", GLib.Variant("(s)", (iface,)),
                         "(a{sv})")

    def assertDBusError(self, name):
        """Context manager: the block must raise the D-Bus error `name` (a short name such as
        "InvalidArgument" means org.llmlab.Lab1.Error.InvalidArgument). The GLib.Error is in
        cm.exception, its message in cm.message."""
        def decode(exc):
            if not isinstance(exc, GLib.Error):
                return None
            remote = Gio.DBusError.get_remote_error(exc)
            Gio.DBusError.strip_remote_error(exc)
            return remote, exc.message
        return self.assertErrorContext(name, decode)

    def assertErrorContext(self, name, decode):
        """The context manager behind assertDBusError: decode(exception) gives (full error name,
        message) for the errors it knows, None for any other exception, which passes through."""
        test = self
        full = name if "." in name else ERROR_PREFIX + name

        class _Ctx:
            exception = None
            message = None

            def __enter__(self):
                return self

            def __exit__(self, exc_type, exc, tb):
                if exc is None:
                    test.fail("expected D-Bus error %s, got success" % full)
                decoded = decode(exc)
                if decoded is None:
                    return False
                test.assertEqual(decoded[0], full, "D-Bus error: %s" % decoded[1])
                self.exception = exc
                self.message = decoded[1]
                return True

        return _Ctx()

    # ------------------------------------------------------------------ runs

    def start_run(self, request, **kwargs):
        """Manager.StartRun(request as a{sv}) -> the run's object path."""
        return self.manager_call("StartRun", GLib.Variant.new_tuple(lab_dict(request)), "(o)", **kwargs)

    def wait_run(self, path, timeout=60.0):
        """Wait for the run's Finished signal; returns (result, metrics, chunks) with chunks the
        run's Chunk signals as [(seq, text, thinking)] in arrival order."""
        sig = self.wait_for_signal("Finished", path=path, interface=RUN_IFACE, timeout=timeout)
        chunks = [s.args for s in self.signals
                  if s.member == "Chunk" and s.path == path and s.interface == RUN_IFACE]
        return sig.args[0], sig.args[1], chunks

    def run_to_end(self, request, timeout=60.0):
        """start_run + wait_run."""
        return self.wait_run(self.start_run(request), timeout)

    # ------------------------------------------------------------------ the CLI

    def ctl_argv(self):
        if not self.build_root:
            self.fail("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        return [os.path.join(self.build_root, "client", "ctl", "llmlabctl"), "--user"]

    def ctl(self, *args, input=None, check=True, env=None, timeout=60, uid=None):
        """Run llmlabctl --user ARGS on the private bus; returns subprocess.CompletedProcess (text).
        check: fail the test on a non-zero exit. uid: run as that user (its primary group)."""
        argv = self.ctl_argv() + [str(a) for a in args]
        kwargs = {}
        run_env = self.client_env(env)
        if uid is not None:
            pw = pwd.getpwuid(uid)
            kwargs.update(user=uid, group=pw.pw_gid, extra_groups=[])
            run_env["HOME"] = self.tmpdir
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=run_env,
                              timeout=timeout * self.timeout_multiplier, **kwargs)
        if check and proc.returncode != 0:
            self.fail("%s exited with %d\nstdout:\n%s\nstderr:\n%s"
                      % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
        return proc


def main():
    """unittest.main() with a verbosity that shows each case."""
    unittest.main(verbosity=2)
