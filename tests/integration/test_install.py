#!/usr/bin/python3
"""`meson install` into a DESTDIR puts everything where a distribution expects it, and what is
installed is valid: the tree, the D-Bus files (xmllint; the bus policy loaded by a real
dbus-daemon of type system and enforced), the polkit policy (against its DTD), the unit
(systemd-analyze verify, and `systemd-analyze security` exposure ≤ 2.0), sysusers and tmpfiles
(applied to a scratch root), the example configuration (every key, accepted by llmlabd as shipped
and uncommented), and the installed daemon serving the installed data.

The expected directories are computed the way meson.build computes them: meson's directory
options, and pkg-config's systemd variables for the unit, sysusers and tmpfiles directories."""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, MANAGER_IFACE, MANAGER_PATH  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

MAX_EXPOSURE = 2.0
POLKIT_DTD = "/usr/share/polkit-1/policyconfig-1.dtd"
INTERFACES = ("org.llmlab.Lab1.Manager.xml", "org.llmlab.Lab1.Run.xml", "org.llmlab.Lab1.Job.xml")
NOBODY = 65534


def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(argv, **kwargs)


def need(program):
    path = shutil.which(program)
    if not path:
        raise AssertionError("%s is needed by this test (and is part of the CI packages)" % program)
    return path


def pkgconfig_variable(name, prefix, fallback):
    if not shutil.which("pkg-config"):
        return fallback
    out = run(["pkg-config", "--variable=" + name, "--define-variable=prefix=" + prefix, "systemd"])
    return out.stdout.strip() or fallback if out.returncode == 0 else fallback


class Installation:
    """The build tree (LLMLAB_BUILD_ROOT) installed into a fresh DESTDIR."""

    def __init__(self, destdir):
        self.build_root = os.environ.get("LLMLAB_BUILD_ROOT")
        if not self.build_root:
            raise AssertionError("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        self.destdir = destdir
        meson = need("meson")
        out = run([meson, "install", "-C", self.build_root, "--no-rebuild", "--quiet", "--destdir", destdir])
        if out.returncode != 0:
            raise AssertionError("meson install failed:\n%s%s" % (out.stdout, out.stderr))
        out = run([meson, "introspect", "--buildoptions", self.build_root], check=True)
        opts = {o["name"]: o["value"] for o in json.loads(out.stdout)}
        self.prefix = opts["prefix"]

        def d(name):
            v = opts[name]
            return v if v.startswith("/") else os.path.join(self.prefix, v)

        self.bindir, self.libexecdir, self.datadir = d("bindir"), d("libexecdir"), d("datadir")
        self.pkgdatadir = os.path.join(self.datadir, "llmlab")
        lib = os.path.join(self.prefix, "lib")
        self.unitdir = opts["systemdsystemunitdir"] or pkgconfig_variable(
            "systemdsystemunitdir", self.prefix, os.path.join(lib, "systemd", "system"))
        self.sysusersdir = pkgconfig_variable("sysusersdir", self.prefix, os.path.join(lib, "sysusers.d"))
        self.tmpfilesdir = pkgconfig_variable("tmpfilesdir", self.prefix, os.path.join(lib, "tmpfiles.d"))
        self.udevrulesdir = os.path.join(lib, "udev", "rules.d")

    def path(self, *parts):
        """The DESTDIR path of an installed file."""
        return self.destdir + os.path.join(*parts)

    def expected(self):
        """Every file that must be installed (DESTDIR paths)."""
        dbus = os.path.join(self.datadir, "dbus-1")
        files = [
            (self.libexecdir, "llmlabd"),
            (self.bindir, "llmlabctl"),
            (dbus, "system.d", "org.llmlab.Lab1.conf"),
            (dbus, "system-services", "org.llmlab.Lab1.service"),
            (self.datadir, "polkit-1", "actions", "org.llmlab.policy"),
            (self.unitdir, "llmlab.service"),
            (self.sysusersdir, "llmlab.conf"),
            (self.tmpfilesdir, "llmlab.conf"),
            (self.udevrulesdir, "70-llmlab-powercap.rules"),
            (self.pkgdatadir, "llmlab.conf.example"),
            (self.pkgdatadir, "data", "grid-factors.json"),
            (self.pkgdatadir, "data", "benchmarks", "ai-energy-score.json"),
            (self.pkgdatadir, "data", "benchmarks", "jegham-2025.json"),
        ]
        files += [(dbus, "interfaces", x) for x in INTERFACES]
        prompts = os.path.join(labtest.SOURCE_ROOT, "system_prompts")
        files += [(self.pkgdatadir, "system_prompts", p) for p in sorted(os.listdir(prompts)) if p.endswith(".md")]
        return [self.path(*f) for f in files]

    @property
    def unit(self):
        return self.path(self.unitdir, "llmlab.service")

    @property
    def daemon(self):
        return self.path(self.libexecdir, "llmlabd")

    def unit_for_analysis(self, directory, text=None):
        """A copy of the installed unit whose ExecStart= is the DESTDIR binary (systemd-analyze
        checks that the binary exists)."""
        with open(self.unit) as f:
            text = f.read() if text is None else text
        text = text.replace("ExecStart=" + os.path.join(self.libexecdir, "llmlabd"), "ExecStart=" + self.daemon)
        path = os.path.join(directory, "llmlab.service")
        with open(path, "w") as f:
            f.write(text)
        return path


def exposure(unit_path, threshold=None):
    """systemd-analyze security --offline=true: (overall exposure, exit code, output)."""
    argv = [need("systemd-analyze"), "security", "--offline=true", "--no-pager"]
    if threshold is not None:
        argv.append("--threshold=%d" % threshold)
    out = run(argv + [unit_path], env=dict(os.environ, SYSTEMD_COLORS="0"))
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout)
    if not m:
        raise AssertionError("no exposure level in systemd-analyze's output:\n%s%s" % (out.stdout, out.stderr))
    return float(m.group(1)), out.returncode, out.stdout + out.stderr


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="llmlab-install-")
        os.chmod(cls.tmp, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.inst = Installation(os.path.join(cls.tmp, "destdir"))

    def scratch(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        os.chmod(d, 0o755)
        return d

    def test_tree(self):
        for path in self.inst.expected():
            self.assertTrue(os.path.isfile(path), "%s is not installed" % path)
        for binary in (self.inst.daemon, self.inst.path(self.inst.bindir, "llmlabctl")):
            self.assertEqual(os.stat(binary).st_mode & 0o777, 0o755, binary)
        out = run([self.inst.daemon, "--version"], check=True)
        self.assertEqual(out.stdout.strip(), "llmlabd 0.1.0")
        # The daemon is in libexecdir, not on anyone's PATH.
        self.assertFalse(os.path.exists(self.inst.path(self.inst.bindir, "llmlabd")))

    def test_activation_file(self):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(self.inst.path(self.inst.datadir, "dbus-1", "system-services", "org.llmlab.Lab1.service"))
        self.assertEqual(dict(parser["D-BUS Service"]), {"Name": "org.llmlab.Lab1", "Exec": "/bin/false",
                                                         "User": "llmlab", "SystemdService": "llmlab.service"})

    def test_xml_files(self):
        xmllint = need("xmllint")
        dbus = os.path.join(self.inst.datadir, "dbus-1")
        for path in [self.inst.path(dbus, "interfaces", x) for x in INTERFACES] + [
                self.inst.path(dbus, "system.d", "org.llmlab.Lab1.conf")]:
            out = run([xmllint, "--noout", "--nonet", path])
            self.assertEqual(out.returncode, 0, out.stderr)
        policy = self.inst.path(self.inst.datadir, "polkit-1", "actions", "org.llmlab.policy")
        # Against polkit's DTD where it is installed (Debian: polkitd), well-formed at least otherwise.
        argv = [xmllint, "--noout", "--nonet"] + (["--dtdvalid", POLKIT_DTD] if os.path.exists(POLKIT_DTD) else [])
        out = run(argv + [policy])
        self.assertEqual(out.returncode, 0, out.stderr)
        actions = {a.get("id"): a for a in ET.parse(policy).getroot().iter("action")}
        self.assertEqual(sorted(actions), ["org.llmlab.manage", "org.llmlab.read-energy", "org.llmlab.run"])
        defaults = {i: {d.tag: d.text for d in a.find("defaults")} for i, a in actions.items()}
        self.assertEqual(defaults["org.llmlab.run"]["allow_active"], "yes")
        self.assertEqual(defaults["org.llmlab.manage"],
                         {"allow_any": "auth_admin_keep", "allow_inactive": "auth_admin_keep",
                          "allow_active": "auth_admin_keep"})
        self.assertNotIn("yes", defaults["org.llmlab.read-energy"].values())
        self.assertNotIn("yes", [defaults["org.llmlab.run"]["allow_any"]])

    def test_bus_policy_is_loaded_and_enforced(self):
        """A dbus-daemon of type system loads the installed policy: root may own org.llmlab.Lab1,
        another user may not, and may call the lab's interfaces but nothing else."""
        d = self.scratch()
        conf = os.path.join(d, "system.conf")
        with open(conf, "w") as f:
            f.write(SYSTEM_BUS.format(dir=d, conf=self.inst.path(self.inst.datadir, "dbus-1", "system.d",
                                                                  "org.llmlab.Lab1.conf")))
        bus = subprocess.Popen([need("dbus-daemon"), "--config-file=" + conf, "--print-address=1", "--nofork"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (bus.terminate(), bus.wait(), bus.stdout.close(), bus.stderr.close()))
        address = bus.stdout.readline().strip()
        self.assertTrue(address, "dbus-daemon did not start with the installed policy")

        conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.addCleanup(conn.close_sync, None)
        reply = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
                               GLib.Variant("(su)", ("org.llmlab.Lab1", 4)), GLib.VariantType("(u)"),
                               Gio.DBusCallFlags.NONE, -1, None)
        self.assertEqual(reply.unpack()[0], 1)  # root is the primary owner
        calls = []

        def on_call(connection, sender, path, iface, method, params, invocation):
            calls.append((iface, method))
            invocation.return_dbus_error("org.llmlab.Test.Reached", "the call reached the owner")

        node = Gio.DBusNodeInfo.new_for_xml(
            '<node><interface name="org.llmlab.Lab1.Manager"><method name="ListRegions"/></interface>'
            '<interface name="org.llmlab.Lab1.Secret"><method name="Leak"/></interface></node>')
        for info in node.interfaces:
            conn.register_object("/org/llmlab/Lab1", info, on_call, None, None)

        client = subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                                   sys.executable, "-c", NOBODY_CLIENT, address],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ctx = GLib.MainContext.default()
        while client.poll() is None:
            ctx.iteration(False)
            try:
                client.wait(0.01)
            except subprocess.TimeoutExpired:
                pass
        out, err = client.communicate()
        self.assertEqual(client.returncode, 0, err)
        results = json.loads(out)
        self.assertEqual(results["own"], "org.freedesktop.DBus.Error.AccessDenied")
        self.assertEqual(results["Manager.ListRegions"], "org.llmlab.Test.Reached")
        self.assertEqual(results["Secret.Leak"], "org.freedesktop.DBus.Error.AccessDenied")
        self.assertEqual(results["Introspect"], "ok")
        self.assertEqual(calls, [("org.llmlab.Lab1.Manager", "ListRegions")])

    def test_unit(self):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str
        parser.read(self.inst.unit)
        service = parser["Service"]
        expect = {
            "Type": "dbus", "BusName": "org.llmlab.Lab1", "StateDirectory": "llmlab", "Restart": "on-failure",
            "ExecStart": os.path.join(self.inst.libexecdir, "llmlabd") + " --system",
            "ProtectSystem": "strict", "CapabilityBoundingSet": "", "NoNewPrivileges": "yes",
            "IPAddressDeny": "any", "IPAddressAllow": "localhost", "PrivateDevices": "yes",
        }
        for key, value in expect.items():
            self.assertEqual(service.get(key), value, key)
        self.assertTrue(service.get("WatchdogSec"))
        self.assertTrue(service.get("SystemCallFilter"))
        self.assertIn("AF_INET", service.get("RestrictAddressFamilies"))
        with open(self.inst.unit) as f:
            text = f.read()
        # Sandboxing comes in commented groups, and how to reach a remote server is explained.
        groups = [g for g in text.split("\n\n") if "=" in g and not g.lstrip().startswith("[")]
        self.assertGreaterEqual(len(groups), 5)
        for g in groups:
            self.assertTrue(g.lstrip().startswith("#"), "a group of settings without a comment:\n" + g)
        self.assertRegex(text, r"#[^\n]*(another host|remote)[^\n]*\n(#[^\n]*\n)*#[^\n]*IPAddressAllow=")

    def test_unit_verifies(self):
        unit = self.inst.unit_for_analysis(self.scratch())
        out = run([need("systemd-analyze"), "verify", "--man=no", unit])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn("llmlab.service:", out.stdout + out.stderr)

    def test_unit_exposure(self):
        d = self.scratch()
        level, code, output = exposure(self.inst.unit_for_analysis(d), threshold=int(MAX_EXPOSURE * 10))
        self.assertLessEqual(level, MAX_EXPOSURE, output)
        self.assertEqual(code, 0, output)
        # The check can fail: the same unit without its sandboxing is far above the limit.
        bare = "[Unit]\nDescription=bare\n\n[Service]\nType=dbus\nBusName=org.llmlab.Lab1\nExecStart=%s\n" % (
            self.inst.daemon)
        level, code, output = exposure(self.inst.unit_for_analysis(self.scratch(), bare),
                                       threshold=int(MAX_EXPOSURE * 10))
        self.assertGreater(level, MAX_EXPOSURE, output)
        self.assertNotEqual(code, 0)

    def test_sysusers_and_tmpfiles(self):
        root = self.scratch()
        os.mkdir(os.path.join(root, "etc"))
        out = run([need("systemd-sysusers"), "--root=" + root, self.inst.path(self.inst.sysusersdir, "llmlab.conf")])
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            user = [line.split(":") for line in f if line.startswith("llmlab:")]
        self.assertEqual(len(user), 1)
        self.assertEqual(user[0][5], "/var/lib/llmlab")
        self.assertNotEqual(user[0][2], "0")
        # The tmpfiles rules resolve (group llmlab, from the scratch root) and apply.
        out = run([need("systemd-tmpfiles"), "--root=" + root, "--create",
                   self.inst.path(self.inst.tmpfilesdir, "llmlab.conf")])
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(self.inst.path(self.inst.udevrulesdir, "70-llmlab-powercap.rules")) as f:
            rules = [line for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(len(rules), 1)
        self.assertIn('SUBSYSTEM=="powercap"', rules[0])
        self.assertIn("chgrp llmlab", rules[0])

    def test_example_config_lists_every_key(self):
        with open(os.path.join(labtest.SOURCE_ROOT, "daemon", "config.c")) as f:
            src = f.read()
        known = {}
        for func, section in (("parse_daemon", "Daemon"), ("parse_energy", "Energy"), ("parse_carbon", "Carbon"),
                              ("parse_metrics", "Metrics")):
            body = src[src.index("static int %s(" % func):]
            body = body[:body.index("NULL")]
            known[section] = set(re.findall(r'"(\w+)"', body[body.index("known[]"):]))
        known["Backend"] = set(re.findall(r'get_string\(p, group, "(\w+)"', src))
        self.assertEqual(known["Backend"], {"Kind", "Url", "ApiKey"})
        self.assertIn("MaxTranscriptBytes", known["Daemon"])

        listed, section = {}, None
        with open(self.inst.path(self.inst.pkgdatadir, "llmlab.conf.example")) as f:
            for line in f:
                m = re.match(r"#?\[(\w+)", line)
                if m:
                    section = m.group(1)
                    continue
                m = re.match(r"#(\w+)=", line)
                if m:
                    listed.setdefault(section, set()).add(m.group(1))
        self.assertEqual(listed, known)


SYSTEM_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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
  </policy>
  <include>{conf}</include>
</busconfig>
"""

NOBODY_CLIENT = r"""
import json, sys
from gi.repository import Gio, GLib
conn = Gio.DBusConnection.new_for_address_sync(
    sys.argv[1], Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
    None, None)
out = {}
def attempt(key, dest, path, iface, method, args=None):
    try:
        conn.call_sync(dest, path, iface, method, args, None, Gio.DBusCallFlags.NONE, 10000, None)
        out[key] = "ok"
    except GLib.Error as e:
        out[key] = Gio.DBusError.get_remote_error(e)
attempt("own", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
        GLib.Variant("(su)", ("org.llmlab.Lab1", 4)))
attempt("Manager.ListRegions", "org.llmlab.Lab1", "/org/llmlab/Lab1", "org.llmlab.Lab1.Manager", "ListRegions")
attempt("Secret.Leak", "org.llmlab.Lab1", "/org/llmlab/Lab1", "org.llmlab.Lab1.Secret", "Leak")
attempt("Introspect", "org.llmlab.Lab1", "/org/llmlab/Lab1", "org.freedesktop.DBus.Introspectable", "Introspect")
print(json.dumps(out))
"""


class InstalledDaemonTest(LabTestCase):
    """The installed llmlabd with the installed data (LLMLAB_DATA_DIR = DESTDIR's pkgdatadir)."""

    autostart_daemon = False

    def setUp(self):
        super().setUp()
        self.inst = Installation(os.path.join(self.tmpdir, "destdir"))

    def daemon_argv(self):
        return [self.inst.daemon] + list(self.daemon_args)

    def daemon_env(self, extra=None):
        env = super().daemon_env(extra)
        env["LLMLAB_DATA_DIR"] = self.inst.path(self.inst.pkgdatadir)
        return env

    def manager_property(self, name):
        return self.get_property(MANAGER_PATH, MANAGER_IFACE, name)

    def test_installed_daemon_serves_the_installed_data(self):
        self.start_daemon()
        prompts = sorted(p["id"] for p in self.manager_call("ListSystemPrompts", None, "(aa{sv})"))
        self.assertEqual(prompts, sorted(p[:-3] for p in os.listdir(os.path.join(self.source_root, "system_prompts"))
                                         if p.endswith(".md")))
        benchmarks = self.manager_call("ListBenchmarks", None, "(aa{sv})")
        self.assertEqual(len([b for b in benchmarks if b["builtin"]]), 92)
        self.assertGreater(len(self.manager_call("ListRegions", None, "(aa{sv})")), 100)
        result, metrics, _ = self.run_to_end({"model": "qwen3:0.6b", "user_prompt": "hi", "measure": "estimate"})
        self.assertEqual(result, "done")

    def test_watchdog_is_fed(self):
        """The unit sets WatchdogSec=; the daemon pings at half the interval systemd gives it."""
        self.start_daemon(extra_env={"WATCHDOG_USEC": "400000"})
        start = len(self.notify.messages)
        self.pump_until(lambda: sum(1 for _, f in self.notify.messages[start:] if f.get("WATCHDOG") == "1") >= 3,
                        5, "three WATCHDOG=1 notifications")

    def example(self):
        with open(self.inst.path(self.inst.pkgdatadir, "llmlab.conf.example")) as f:
            return f.read()

    def test_example_config_as_shipped(self):
        """Everything commented out: the defaults."""
        self.write_config(self.example())
        self.start_daemon(write_config=False)
        self.assertDefaults()
        self.assertEqual([b["url"] for b in self.manager_property("Backends")], ["http://127.0.0.1:11434"])

    def test_example_config_uncommented(self):
        """Every key set to the value the example gives: accepted, and the same as the defaults."""
        lines, backends = [], 0
        for line in self.example().splitlines():
            if line.startswith("#[Backend"):
                backends += 1
                if backends > 1:
                    break
                lines.append(line[1:])
            elif re.match(r"#\w+=.+", line):
                key = line[1:].split("=", 1)[0]
                if key == "TextfilePath":  # not on the host running the tests
                    line = "#TextfilePath=" + os.path.join(self.tmpdir, "llmlab.prom")
                lines.append(line[1:])
            else:
                lines.append(line)
        text = "\n".join(lines) + "\n"
        self.assertIn("\nMaxTranscriptBytes=16777216\n", text)
        self.assertRegex(text, r"\n\[Backend ollama\]\n(#.*\n)*Kind=ollama\n(#.*\n)*Url=http://127.0.0.1:11434\n")
        self.write_config(text)
        self.start_daemon(write_config=False)
        self.assertDefaults()
        self.assertEqual([b["url"] for b in self.manager_property("Backends")], ["http://127.0.0.1:11434"])

    def assertDefaults(self):
        self.assertEqual(self.manager_property("Region"), "GLOBAL")
        self.assertEqual(self.manager_property("SampleIntervalMs"), 10)
        self.assertEqual(self.manager_property("DefaultBenchmark"), "aes:meta-llama-3.1-8b")


if __name__ == "__main__":
    labtest.main()
