"""llmlabd on a private *system* bus, as installed: `llmlabd --system`, polkit consulted.

    from systemtest import SystemLabTestCase, ALICE, RUN, READ_ENERGY, MANAGE

    class T(SystemLabTestCase):
        def test_denied(self):
            alice = self.agent(ALICE)                 # a client process running as another uid
            self.set_allowed([])                      # the polkitd mock denies everything
            with self.assertAgentError("PermissionDenied"):
                alice.call(MANAGER_PATH, MANAGER_IFACE, "GetEnergyStatus", None, "(a{sv})")

The bus is a dbus-daemon of type system started once per class by python-dbusmock
(dbusmock.DBusTestCase.start_dbus()) with a configuration like Debian's that includes
dbus/org.llmlab.Lab1.conf (so its rules apply: only root owns the name, anyone may call), exported
as DBUS_SYSTEM_BUS_ADDRESS. (dbusmock's start_system_bus() would let no other uid connect.)
polkitd is dbusmock's polkitd template, started per test (class knob `polkit = False`: none on
the bus; or self.stop_polkit()); self.set_allowed([...]) chooses the actions it grants.
Everything else is labtest.LabTestCase: the fake inference server, the power simulator, the
daemon's log, config and notify socket, self.call() & co. on the test's own connection, which is
root's (uid 0 is always authorized: tests about authorization use agents).

ALICE and BOB are two unprivileged uids that exist (dbus-daemon refuses unknown ones).

An agent (self.agent(uid)) is a D-Bus client in a separate process started with
`setpriv --reuid=UID --regid=UID --clear-groups`: this very file run with --agent. It subscribes
to every signal it may receive (an ordinary match rule, no eavesdropping) and records them, and
makes calls on request (JSON lines on its stdin and stdout; values travel in GVariant text form).

self.polkit_checks() lists the CheckAuthorization calls the daemon made (seen by eavesdropping,
which the bus allows root): (subject bus name, action, flags).

Runs under /usr/bin/python3 with python3-gi and python3-dbusmock.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import dbus  # noqa: E402
import dbusmock  # noqa: E402

import labtest  # noqa: E402
from labtest import MANAGER_IFACE, MANAGER_PATH, lab_dict  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

__all__ = ["SystemLabTestCase", "BusAgent", "AgentError", "RUN", "READ_ENERGY", "MANAGE", "ACTIONS", "ALICE",
           "BOB", "POLKIT_NAME"]

RUN = "org.llmlab.run"
READ_ENERGY = "org.llmlab.read-energy"
MANAGE = "org.llmlab.manage"
ACTIONS = (RUN, READ_ENERGY, MANAGE)


def _existing_uid(*names):
    for name in names:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    raise RuntimeError("none of the users %s exists" % ", ".join(names))


# Two unprivileged users. dbus-daemon refuses connections from uids without a passwd entry, so
# these are system accounts every Debian has (they are only names for uids here).
ALICE = _existing_uid("daemon", "bin", "sys")
BOB = _existing_uid("nobody")
POLKIT_NAME = "org.freedesktop.PolicyKit1"
# A system bus like Debian's (system.conf: nothing may be owned or called unless a rule allows it)
# with llmlab's own rules included (dbus/org.llmlab.Lab1.conf), except that every uid may connect
# (dbusmock's start_system_bus() lets only root in) and root may eavesdrop (polkit_checks()).
_SYSTEM_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <include>{conf}</include>
  <limit name="reply_timeout">600000</limit>
</busconfig>
"""
_POLKIT_MATCH = ("type='method_call',interface='org.freedesktop.PolicyKit1.Authority',"
                 "member='CheckAuthorization',eavesdrop='true'")


def _variant_text(value):
    return value.print_(True) if value is not None else None


def _variant_parse(text):
    return GLib.Variant.parse(None, text, None, None) if text is not None else None


class AgentError(Exception):
    """A D-Bus error returned to an agent: .name (full error name) and .message."""

    def __init__(self, name, message):
        super().__init__("%s: %s" % (name, message))
        self.name = name
        self.message = message


class BusAgent:
    """A client process on the bus as another uid (see the module docstring)."""

    def __init__(self, test, uid, gid=None):
        self.test = test
        self.uid = uid
        self._next_id = 0
        self._replies = {}
        self._cond = threading.Condition()
        gid = pwd.getpwuid(uid).pw_gid if gid is None else gid
        env = test.client_env({"PYTHONDONTWRITEBYTECODE": "1", "HOME": test.tmpdir,
                               "PYTHONPATH": os.pathsep.join([_HERE, os.path.join(test.source_root, "tests",
                                                                                  "fixtures")])})
        argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                sys.executable, os.path.abspath(__file__), "--agent", test.bus_address]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd=test.tmpdir, close_fds=True)
        self._reader = threading.Thread(target=self._read_loop, name="agent-%d" % uid, daemon=True)
        self._reader.start()
        hello = self._wait(0, 20.0)
        if hello.get("uid") != uid:
            test.fail("the agent runs as uid %s, not %d" % (hello.get("uid"), uid))
        self.name = hello["name"]

    def _read_loop(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self._cond:
                self._replies[msg["id"]] = msg
                self._cond.notify_all()
        with self._cond:
            self._replies["eof"] = True
            self._cond.notify_all()

    def _wait(self, rid, timeout):
        deadline = time.monotonic() + timeout * self.test.timeout_multiplier
        with self._cond:
            while rid not in self._replies:
                if "eof" in self._replies:
                    self.test.fail("agent (uid %d) exited with %s" % (self.uid, self.proc.poll()))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.test.fail("agent (uid %d): no answer to request %d within %.0f s" % (self.uid, rid, timeout))
                self._cond.wait(remaining)
            return self._replies.pop(rid)

    def _send(self, **request):
        self._next_id += 1
        request["id"] = self._next_id
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        return self._next_id

    @staticmethod
    def _result(msg):
        if not msg["ok"]:
            raise AgentError(msg["error"], msg["message"])
        return msg

    def call_async(self, path, iface, method, args=None, reply_type=None, interactive=False, timeout=60.0,
                   dest=None):
        """Send a call; returns a handle for result()."""
        return self._send(op="call", dest=dest or "org.llmlab.Lab1", path=path, iface=iface, method=method,
                          args=_variant_text(args), reply_type=reply_type, interactive=interactive,
                          timeout_ms=int(timeout * 1000 * self.test.timeout_multiplier))

    def result(self, handle, timeout=60.0):
        """The reply of call_async(): unpacked like LabTestCase.call(), or AgentError."""
        msg = self._result(self._wait(handle, timeout))
        reply = _variant_parse(msg["reply"])
        values = reply.unpack() if reply is not None else ()
        if len(values) == 0:
            return None
        return values[0] if len(values) == 1 else values

    def call(self, path, iface, method, args=None, reply_type=None, interactive=False, timeout=60.0, dest=None):
        """A method call as this agent's user; D-Bus errors raise AgentError."""
        return self.result(self.call_async(path, iface, method, args, reply_type, interactive, timeout, dest),
                           timeout + 5)

    def manager_call(self, method, args=None, reply_type=None, **kwargs):
        return self.call(MANAGER_PATH, MANAGER_IFACE, method, args, reply_type, **kwargs)

    def start_run(self, request, **kwargs):
        return self.manager_call("StartRun", GLib.Variant.new_tuple(lab_dict(request)), "(o)", **kwargs)

    def get_property(self, path, iface, name):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", (iface, name)),
                         "(v)")

    def export(self, fmt, filter_=None):
        """Manager.ExportRuns(fmt, filter) → the text read from the returned file descriptor."""
        args = GLib.Variant.new_tuple(GLib.Variant("s", fmt), lab_dict(filter_ or {}))
        msg = self._result(self._wait(self._send(op="export", args=_variant_text(args)), 60.0))
        return msg["text"]

    def signals(self):
        """Every signal received so far: [{"path", "iface", "member", "sender", "args" (text)}]."""
        return self._result(self._wait(self._send(op="signals"), 20.0))["signals"]

    def sync(self):
        """A round trip to llmlabd: every signal it sent this agent before is recorded after this."""
        self.call("/org/llmlab/Lab1", "org.freedesktop.DBus.Peer", "Ping")

    def wait_for_signal(self, member, path=None, timeout=30.0):
        deadline = time.monotonic() + timeout * self.test.timeout_multiplier
        while True:
            for s in self.signals():
                if s["member"] == member and (path is None or s["path"] == path):
                    return s
            if time.monotonic() > deadline:
                self.test.fail("agent (uid %d): no signal %s on %s" % (self.uid, member, path))
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._reader.join(5)


class SystemLabTestCase(labtest.LabTestCase):
    """LabTestCase on a private system bus with polkitd mocked (see the module docstring)."""

    daemon_args = ["--system", "-v"]
    polkit = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._bus_dir = tempfile.mkdtemp(prefix="llmlab-system-bus-")
        os.chmod(cls._bus_dir, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls._bus_dir, True)
        conf = os.path.join(cls._bus_dir, "system.conf")
        with open(conf, "w") as f:
            f.write(_SYSTEM_BUS_CONFIG.format(
                dir=cls._bus_dir, conf=os.path.join(labtest.SOURCE_ROOT, "dbus", "org.llmlab.Lab1.conf")))
        pid, address = dbusmock.DBusTestCase.start_dbus(conf=conf)
        cls.addClassCleanup(dbusmock.DBusTestCase.stop_dbus, pid)
        old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
        cls.addClassCleanup(lambda: os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS") if old is None
                            else os.environ.__setitem__("DBUS_SYSTEM_BUS_ADDRESS", old))

    def _start_bus(self):
        self.bus_address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        self.bus = self._connect()
        self.addCleanup(self._close_bus)
        self._polkit_checks = []
        self._polkit_lock = threading.Lock()
        self._spy = self._connect()
        self._spy.add_filter(self._on_polkit_call)
        self._spy.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                            GLib.Variant("(s)", (_POLKIT_MATCH,)), None, Gio.DBusCallFlags.NONE, -1, None)
        self.addCleanup(self._spy.close_sync, None)
        self.polkitd = None
        if self.polkit:
            self.start_polkit()

    def _connect(self):
        conn = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        conn.set_exit_on_close(False)
        return conn

    def _on_polkit_call(self, conn, message, incoming, *user_data):
        if incoming and message.get_member() == "CheckAuthorization":
            subject, action, details, flags, _ = message.get_body().unpack()
            with self._polkit_lock:
                self._polkit_checks.append((subject[1].get("name"), action, flags))
            return None  # eavesdropped: not for this connection
        return message

    def polkit_checks(self):
        """[(subject bus name, action id, flags)] of every CheckAuthorization so far."""
        # A barrier: the bus copies a CheckAuthorization to the spy before its caller can see the
        # outcome, and the spy's worker thread reads its socket in order, so once the reply to this
        # call is in, every check made before it has passed through the filter.
        self._spy.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
                            None, None, Gio.DBusCallFlags.NONE, -1, None)
        with self._polkit_lock:
            return list(self._polkit_checks)

    def start_polkit(self):
        self.polkitd, self.polkit_obj = dbusmock.DBusTestCase.spawn_server_template(
            "polkitd", {}, stdout=subprocess.DEVNULL)
        self.addCleanup(self._stop_process, self.polkitd, "polkitd mock")
        self.set_allowed([])

    def stop_polkit(self):
        """polkitd leaves the bus (a crash, an uninstalled polkit)."""
        self._stop_process(self.polkitd, "polkitd mock")
        self.pump_until(lambda: not self._name_has_owner(POLKIT_NAME), 10, "polkitd to leave the bus")

    def _name_has_owner(self, name):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                         GLib.Variant("(s)", (name,)), "(b)", dest="org.freedesktop.DBus")

    def set_allowed(self, actions):
        """The actions polkitd grants (to every subject); the others are denied."""
        self.polkit_obj.SetAllowed(dbus.Array(list(actions), signature="s"), dbus_interface=dbusmock.MOCK_IFACE)

    def polkit_mock(self, method, *args):
        """Another method of the polkitd template (SimulateHangActions, ReleaseHangingCalls, …)."""
        args = [dbus.Array(a, signature="s") if isinstance(a, list) else a for a in args]
        return getattr(self.polkit_obj, method)(*args, dbus_interface=dbusmock.MOCK_IFACE)

    def agent(self, uid, gid=None):
        """A BusAgent running as @uid; stopped at the end of the test."""
        a = BusAgent(self, uid, gid)
        self.addCleanup(a.close)
        return a

    def ctl_argv(self):
        if not self.build_root:
            self.fail("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        return [os.path.join(self.build_root, "client", "ctl", "llmlabctl")]  # --system, the default

    def assertAgentError(self, name):
        """Like assertDBusError, for AgentError (short names are org.llmlab.Lab1.Error.*)."""
        return self.assertErrorContext(
            name, lambda exc: (exc.name, exc.message) if isinstance(exc, AgentError) else None)


# --------------------------------------------------------------------------------- the agent process

def _agent_main(address):
    conn = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    conn.set_exit_on_close(False)
    loop = GLib.MainLoop()
    received = []
    buf = bytearray()

    def write(msg):
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    def on_signal(c, sender, path, iface, member, params):
        received.append({"sender": sender, "path": path, "iface": iface, "member": member,
                         "args": _variant_text(params)})

    def reply_error(rid, e):
        name = Gio.DBusError.get_remote_error(e) or "(local) %s" % e.message
        Gio.DBusError.strip_remote_error(e)
        write({"id": rid, "ok": False, "error": name, "message": e.message})

    def on_reply(c, res, rid):
        try:
            reply = c.call_finish(res)
        except GLib.Error as e:
            return reply_error(rid, e)
        write({"id": rid, "ok": True, "reply": _variant_text(reply)})

    def on_export(c, res, rid):
        try:
            reply, fds = c.call_with_unix_fd_list_finish(res)
        except GLib.Error as e:
            return reply_error(rid, e)
        fd = fds.get(reply.unpack()[0])
        chunks = []
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
        os.close(fd)
        write({"id": rid, "ok": True, "text": b"".join(chunks).decode("utf-8", "replace")})

    def handle(req):
        rid, op = req["id"], req["op"]
        if op == "signals":
            return write({"id": rid, "ok": True, "signals": received})
        if op == "call":
            flags = Gio.DBusCallFlags.NONE
            if req.get("interactive"):
                flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
            conn.call(req["dest"], req["path"], req["iface"], req["method"], _variant_parse(req["args"]),
                      GLib.VariantType(req["reply_type"]) if req.get("reply_type") else None, flags,
                      req["timeout_ms"], None, on_reply, rid)
            return None
        if op == "export":
            conn.call_with_unix_fd_list("org.llmlab.Lab1", "/org/llmlab/Lab1", "org.llmlab.Lab1.Manager",
                                        "ExportRuns", _variant_parse(req["args"]), GLib.VariantType("(h)"),
                                        Gio.DBusCallFlags.NONE, 60000, None, None, on_export, rid)
            return None
        return write({"id": rid, "ok": False, "error": "(agent)", "message": "unknown op %r" % op})

    def on_stdin(fd, condition):
        data = os.read(fd, 65536)
        if not data:
            loop.quit()
            return False
        buf.extend(data)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            handle(json.loads(line))
        return True

    conn.signal_subscribe(None, None, None, None, None, Gio.DBusSignalFlags.NONE, on_signal)
    # A round trip: the match rule is in place before the agent says it is ready.
    conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", None, None,
                   Gio.DBusCallFlags.NONE, -1, None)
    write({"id": 0, "ok": True, "name": conn.get_unique_name(), "uid": os.getuid()})
    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, 0, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)
    loop.run()
    conn.close_sync(None)
    return 0


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--agent":
    sys.exit(_agent_main(sys.argv[2]))
