"""A desktop session for testing llmlab-gtk in a real window: Xvfb, an AT-SPI accessibility bus on
the test's private session bus, the application itself, its exported actions (org.gtk.Actions) and
screenshots (ImageMagick `import -window root`).

    session = GtkSession(test)            # test: a labtest.LabTestCase (its bus, tmpdir, timeouts)
    session.start()                       # Xvfb + a11y bus + llmlab-gtk --user; waits for the window
    session.activate("set-energy-prompt", GLib.Variant("s", "hi"))
    tree = session.accessible_tree()      # what the widgets show, read over AT-SPI (gtk_atspi_dump.py)
    session.screenshot("energy.png")

Everything is stopped by the test's cleanups. LLMLAB_GTK_WRAPPER (e.g. "valgrind" or
"gdb -batch -ex run -ex bt --args") is put before the application's command line. Standard library and python3-gi only; the AT-SPI
reader runs in a subprocess (gir1.2-atspi-2.0) so that it binds to this test's buses.
"""

import json
import os
import shlex
import shutil
import subprocess
import time

from gi.repository import Gio, GLib

APP_ID = "org.llmlab.Desktop"
APP_PATH = "/org/llmlab/Desktop"
_HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def missing_tools():
    """The programs this module needs that are not installed (the test is skipped without them)."""
    missing = [tool for tool in ("Xvfb", "import") if shutil.which(tool) is None]
    if not os.path.exists("/usr/libexec/at-spi-bus-launcher"):
        missing.append("at-spi-bus-launcher (at-spi2-core)")
    probe = subprocess.run([PYTHON, "-c", "import gi; gi.require_version('Atspi', '2.0'); "
                            "from gi.repository import Atspi"], capture_output=True)
    if probe.returncode != 0:
        missing.append("gir1.2-atspi-2.0")
    return missing


class GtkSession:
    def __init__(self, test, width=1480, height=960):
        self.test = test
        self.width = width
        self.height = height
        self.display = None
        self.app = None
        self.app_log_path = os.path.join(test.tmpdir, "llmlab-gtk.log")

    # ------------------------------------------------------------------ processes

    def _spawn(self, argv, env, log_name):
        log = open(os.path.join(self.test.tmpdir, log_name), "ab")
        self.test.addCleanup(log.close)
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                close_fds=True)
        self.test.addCleanup(self._stop, proc)
        return proc

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _start_xvfb(self):
        read_fd, write_fd = os.pipe()
        log = open(os.path.join(self.test.tmpdir, "xvfb.log"), "ab")
        self.test.addCleanup(log.close)
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                 "%dx%dx24" % (self.width, self.height), "-nolisten", "tcp", "-noreset"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,))
        os.close(write_fd)
        self.test.addCleanup(self._stop, proc)
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()
        if not number:
            self.test.fail("Xvfb did not start (see xvfb.log)")
        self.display = ":" + number

    def env(self):
        """The environment of the application and of the AT-SPI reader."""
        env = self.test.client_env({
            "DISPLAY": self.display,
            "GDK_BACKEND": "x11",
            "GSK_RENDERER": "cairo",
            "GTK_A11Y": "atspi",
            "NO_AT_BRIDGE": "0",
            "XDG_RUNTIME_DIR": self.test.runtime_dir,
            "HOME": self.test.tmpdir,
            "XDG_CONFIG_HOME": os.path.join(self.test.tmpdir, "config"),
            "XDG_DATA_HOME": os.path.join(self.test.tmpdir, "data"),
            "GSETTINGS_BACKEND": "memory",
            "G_MESSAGES_DEBUG": "",
        })
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("SESSION_MANAGER", None)
        return env

    def start(self, args=None, wait_window=True):
        self._start_xvfb()
        env = self.env()
        # The accessibility bus: org.a11y.Bus on the private session bus, launched now.
        self._spawn(["/usr/libexec/at-spi-bus-launcher", "--launch-immediately"], env, "at-spi-bus.log")
        self.test.pump_until(lambda: self._has_name("org.a11y.Bus"), 10, "the AT-SPI bus launcher")
        binary = os.path.join(self.test.build_root, "client", "gtk", "llmlab-gtk")
        if not os.access(binary, os.X_OK):
            self.test.fail("%s is not built" % binary)
        wrapper = shlex.split(os.environ.get("LLMLAB_GTK_WRAPPER", ""))
        self.app = self._spawn(wrapper + [binary, "--user"] + list(args or []), env, "llmlab-gtk.log")
        self.test.pump_until(lambda: self._has_name(APP_ID) or self._app_died(), 20, "llmlab-gtk on the bus")
        if self._app_died():
            self.test.fail("llmlab-gtk exited with %s:\n%s" % (self.app.returncode, self.app_log()))
        if wait_window:
            self.wait_for(lambda tree: find(tree, role="frame"), "the main window")

    def _app_died(self):
        return self.app is not None and self.app.poll() is not None

    def _has_name(self, name):
        reply = self.test.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                        "NameHasOwner", GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                                        Gio.DBusCallFlags.NONE, -1, None)
        return reply.unpack()[0]

    def app_log(self):
        try:
            with open(self.app_log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ driving

    def activate(self, action, parameter=None):
        """Activate app.ACTION (org.gtk.Actions.Activate, as `gapplication action` does)."""
        params = [parameter] if parameter is not None else []
        self.test.bus.call_sync(APP_ID, APP_PATH, "org.gtk.Actions", "Activate",
                                GLib.Variant("(sava{sv})", (action, params, {})), None, Gio.DBusCallFlags.NONE,
                                10000, None)

    def action_enabled(self, action):
        reply = self.test.bus.call_sync(APP_ID, APP_PATH, "org.gtk.Actions", "Describe", GLib.Variant("(s)", (action,)),
                                        GLib.VariantType("((bgav))"), Gio.DBusCallFlags.NONE, 10000, None)
        return reply.unpack()[0][0]

    # ------------------------------------------------------------------ reading what is shown

    def accessible_tree(self):
        """The application's accessible tree as nested dicts: role, name, description, text, states,
        children (read by gtk_atspi_dump.py in a subprocess); None while the application is not
        on the accessibility bus yet."""
        proc = subprocess.run([PYTHON, os.path.join(_HERE, "gtk_atspi_dump.py"), "llmlab-gtk"], env=self.env(),
                              capture_output=True, text=True, timeout=60 * self.test.timeout_multiplier)
        if proc.returncode == 3:
            return None
        if proc.returncode != 0:
            self.test.fail("reading the accessible tree failed (%d):\n%s" % (proc.returncode, proc.stderr))
        return json.loads(proc.stdout)

    def wait_for(self, condition, what, timeout=30.0):
        """Read the tree until condition(tree) is truthy; returns its value (fails on timeout)."""
        deadline = time.monotonic() + timeout * self.test.timeout_multiplier
        last = None
        while True:
            if self._app_died():
                self.test.fail("llmlab-gtk exited with %s:\n%s" % (self.app.returncode, self.app_log()))
            tree = self.accessible_tree()
            value = condition(tree) if tree is not None else None
            if value:
                return value
            last = tree
            if time.monotonic() > deadline:
                path = os.path.join(self.artifact_dir(), "timeout-tree.json")
                with open(path, "w") as f:
                    json.dump(last, f, indent=1)
                self.screenshot("timeout.png")
                self.test.fail("timed out waiting for %s (tree in %s)" % (what, path))
            # Let the test's own bus connection breathe (signals recorded by labtest).
            self.test.pump_until(lambda: True, 1)
            time.sleep(0.3)

    # ------------------------------------------------------------------ screenshots

    def artifact_dir(self):
        base = os.environ.get("LLMLAB_GTK_ARTIFACTS") or os.path.join(self.test.build_root or self.test.tmpdir,
                                                                       "test-artifacts", "gtk")
        os.makedirs(base, exist_ok=True)
        return base

    def screenshot(self, name):
        path = os.path.join(self.artifact_dir(), name)
        subprocess.run(["import", "-display", self.display, "-window", "root", path], check=True,
                       capture_output=True, timeout=30)
        return path


# ---------------------------------------------------------------------- tree helpers

def walk(node):
    yield node
    for child in node.get("children", []):
        yield from walk(child)


def find_all(tree, role=None, name=None, name_prefix=None, text=None):
    out = []
    for node in walk(tree):
        if role is not None and node.get("role") != role:
            continue
        if name is not None and node.get("name") != name:
            continue
        if name_prefix is not None and not (node.get("name") or "").startswith(name_prefix):
            continue
        if text is not None and node.get("text") != text:
            continue
        out.append(node)
    return out


def find(tree, **kwargs):
    nodes = find_all(tree, **kwargs)
    return nodes[0] if nodes else None


def text_of(node):
    """The text a node shows: its own (Text interface), else the first text below it."""
    if node is None:
        return None
    if "text" in node:
        return node["text"]
    for child in node.get("children", []):
        text = text_of(child)
        if text is not None:
            return text
    return None


def shown(tree, name):
    """What the widget named `name` shows. Values in labels are named through a group around them
    (a label's own name is its text); text views carry the name themselves. None if absent."""
    for node in walk(tree):
        if node.get("name") == name and node.get("role") in ("panel", "text", "image"):
            return text_of(node) if node.get("role") != "image" else node.get("description")
    return None
