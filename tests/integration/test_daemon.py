#!/usr/bin/python3
"""The daemon process: readiness, a second instance, configuration errors, clean exit, and the
D-Bus contract (the running daemon's introspection equals dbus/*.xml)."""

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, lab_options  # noqa: E402
from fake_llm_server import Script  # noqa: E402
from gi.repository import GLib  # noqa: E402

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


class ProcessTest(LabTestCase):
    def test_ready_notification(self):
        self.assertTrue(any(fields.get("READY") == "1" for _, fields in self.notify.messages))

    def test_second_instance_exits(self):
        proc = subprocess.run([os.path.join(self.build_root, "daemon", "llmlabd"), "--user"],
                              env=self.daemon_env(), capture_output=True, text=True, timeout=20)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("Another llmlabd already owns org.llmlab.Lab1", proc.stderr)
        # the first one is untouched
        self.assertEqual(self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Version"), "0.1.0")

    def test_sigterm_during_a_run_exits_cleanly(self):
        self.server.scenario = Script(tokens=500, token_interval_ms=20)
        self.start_run({"model": "qwen3:0.6b", "user_prompt": "hi"})
        self.wait_for_signal("Chunk", timeout=10)
        self.assertEqual(self.stop_daemon(signal.SIGTERM), 0)
        self.server.wait_cancelled(1, timeout=10)  # the connection to the server was closed
        self.daemon = None

    def test_sigint_exits_cleanly(self):
        self.assertEqual(self.stop_daemon(signal.SIGINT), 0)
        self.daemon = None

    def test_version_and_help(self):
        binary = os.path.join(self.build_root, "daemon", "llmlabd")
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.strip(), "llmlabd 0.1.0")
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
        self.assertIn("--user", out)
        proc = subprocess.run([binary, "--bogus"], capture_output=True, text=True)
        self.assertNotEqual(proc.returncode, 0)


class ConfigTest(LabTestCase):
    autostart_daemon = False

    def start_with(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)
        proc = subprocess.run([os.path.join(self.build_root, "daemon", "llmlabd"), "--user"],
                              env=self.daemon_env(), capture_output=True, text=True, timeout=20)
        return proc

    def test_syntax_error_names_file_and_line(self):
        proc = self.start_with("[Backend ollama]\nKind=ollama\nthis line is garbage\nUrl=http://x\n")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(self.config_path + ":3:", proc.stderr)

    def test_unknown_key_names_line(self):
        proc = self.start_with("# comment\n\n[Energy]\nSampleIntervalMs=10\nSampleIntervalMS=20\n")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(self.config_path + ":5:", proc.stderr)
        self.assertIn('unknown key "SampleIntervalMS"', proc.stderr)

    def test_bad_values(self):
        for text, line, what in (
                ("[Backend a]\nKind=grpc\nUrl=http://x\n", 2, "Kind="),
                ("[Backend a]\nUrl=ftp://x\n", 2, "Url= must start with http"),
                ("[Energy]\nSampleIntervalMs=0\n", 2, "SampleIntervalMs="),
                ("[Daemon]\nMaxRunsPerUser=lots\n", 2, "MaxRunsPerUser="),
                ("[Frobnicate]\nA=b\n", 1, "unknown section"),
                ("[Backend a/b]\nUrl=http://x\n", 1, "invalid backend id")):
            proc = self.start_with(text)
            self.assertEqual(proc.returncode, 1, text)
            self.assertIn("%s:%d:" % (self.config_path, line), proc.stderr, text)
            self.assertIn(what, proc.stderr, text)

    def test_unknown_region_is_refused(self):
        proc = self.start_with("[Backend ollama]\nUrl=%s\n[Carbon]\nRegion=XX\n" % self.server.url)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("Region=XX", proc.stderr)

    def test_missing_explicit_config(self):
        os.unlink(self.config_path) if os.path.exists(self.config_path) else None
        proc = subprocess.run([os.path.join(self.build_root, "daemon", "llmlabd"), "--user"],
                              env=self.daemon_env(), capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("Failed to read " + self.config_path, proc.stderr)


def _interface_from_xml(path, name):
    root = ET.parse(path).getroot()
    for iface in root.findall("interface"):
        if iface.get("name") == name:
            return iface
    raise AssertionError("%s not in %s" % (name, path))


def _describe(iface):
    """A comparable description of an <interface>: members, argument names/types/directions,
    property types/access and their EmitsChangedSignal annotation."""
    out = {}
    for m in iface.findall("method"):
        out["method " + m.get("name")] = [(a.get("name"), a.get("type"), a.get("direction", "in"))
                                          for a in m.findall("arg")]
    for s in iface.findall("signal"):
        out["signal " + s.get("name")] = [(a.get("name"), a.get("type")) for a in s.findall("arg")]
    for p in iface.findall("property"):
        emits = [a.get("value") for a in p.findall("annotation") if a.get("name") == EMITS]
        out["property " + p.get("name")] = (p.get("type"), p.get("access"), emits[0] if emits else "true")
    return out


class IntrospectionTest(LabTestCase):
    def introspect(self, path, iface):
        xml = self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect", None, "(s)")
        root = ET.fromstring(xml)
        for i in root.findall("interface"):
            if i.get("name") == iface:
                return i
        self.fail("%s has no interface %s:\n%s" % (path, iface, xml))

    def assertMatchesContract(self, path, iface, xml_file):
        contract = _describe(_interface_from_xml(os.path.join(self.source_root, "dbus", xml_file), iface))
        live = _describe(self.introspect(path, iface))
        self.assertEqual(sorted(live), sorted(contract), "members of %s" % iface)
        for key in contract:
            self.assertEqual(live[key], contract[key], "%s %s" % (iface, key))

    def test_manager(self):
        self.assertMatchesContract(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "org.llmlab.Lab1.Manager.xml")

    def test_run(self):
        path = self.start_run({"model": "qwen3:0.6b", "user_prompt": "hi"})
        self.wait_run(path)
        self.assertMatchesContract(path, labtest.RUN_IFACE, "org.llmlab.Lab1.Run.xml")

    def test_job(self):
        job = self.manager_call("StartBatch", GLib.Variant.new_tuple(
            labtest.lab_dict({"model": "qwen3:0.6b", "user_prompt": "hi", "measure": "estimate"}),
            GLib.Variant("a{sv}", {"runs": GLib.Variant("u", 1), "warmup": GLib.Variant("u", 0)})), "(o)")
        self.assertMatchesContract(job, "org.llmlab.Lab1.Job", "org.llmlab.Lab1.Job.xml")

    def test_xml_files_are_valid(self):
        for f in ("org.llmlab.Lab1.Manager.xml", "org.llmlab.Lab1.Run.xml", "org.llmlab.Lab1.Job.xml",
                  "org.llmlab.Lab1.conf", "org.llmlab.policy"):
            subprocess.run(["xmllint", "--noout", os.path.join(self.source_root, "dbus", f)], check=True)


if __name__ == "__main__":
    labtest.main()
