#!/usr/bin/python3
"""Security of llmlabd as installed: on a private system bus (`llmlabd --system`), with polkit
mocked by python-dbusmock, called by clients running as other users (systemtest.BusAgent).

- AuthorizationTest: the table of rules (every method's rule in the C table equals the one
  documented in dbus/*.xml), every polkit action denied then allowed, polkit absent (fail closed),
  polkit slow (the daemon keeps serving), interactive authorization, root, read-only configuration.
- PrivacyTest: another user's connection that listens to every signal sees none of a user's text;
  another user's run, job, transcript and result are NotOwner; sessions and history per user; a
  caller with org.llmlab.manage can read and cancel.
- LimitsTest: runs per user, queue length, runs per batch, request and transcript sizes; each
  exceeded limit is a clear error and disturbs nothing else.
- LeakCheckTest: the daemon under valgrind (or LeakSanitizer in the ASan build) through a few runs, a
  cancel, denials and a job: no definite leak, no error.
"""

import json
import os
import pty
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import MANAGER_IFACE, MANAGER_PATH, RUN_IFACE, JOB_IFACE, Script, lab_dict, lab_options  # noqa: E402
from systemtest import (ACTIONS, ALICE, BOB, MANAGE, READ_ENERGY, RUN, AgentError,  # noqa: E402
                        SystemLabTestCase)
from gi.repository import GLib  # noqa: E402

MODEL = "qwen3:0.6b"
PROPS = "org.freedesktop.DBus.Properties"
BENCHMARK = "aes:meta-llama-3.1-8b"


def request(**kwargs):
    req = {"model": MODEL, "user_prompt": "hi", "measure": "off"}
    req.update(kwargs)
    return req


def args(*values):
    """A call's arguments: dicts become a{sv}, lists of dicts aa{sv}, str s."""
    out = []
    for v in values:
        if isinstance(v, dict):
            out.append(lab_dict(v))
        elif isinstance(v, list):
            out.append(GLib.Variant.new_array(GLib.VariantType("a{sv}"), [lab_dict(p) for p in v]))
        elif isinstance(v, GLib.Variant):
            out.append(v)
        else:
            out.append(GLib.Variant("s", v))
    return GLib.Variant.new_tuple(*out)


def scenario(body):
    """Streamed chats by prompt: "slow…" streams for seconds, "secret …" answers with its owner's
    secret, anything else is quick; probes (non-streamed) answer at once."""
    if body.get("stream") is False:
        return Script(tokens=1)
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("slow"):
        return Script(tokens=300, token_interval_ms=20)
    if prompt.startswith("secret "):
        owner = prompt.split()[1]
        return Script(tokens=["ANSWER", "-OF-", owner] * 10, token_interval_ms=5)
    if prompt.startswith("big "):
        size, count = (int(x) for x in prompt.split()[1:3])
        return Script(tokens=["x" * size] * count, token_interval_ms=1)
    return Script(tokens=["quick", " answer"])


# ----------------------------------------------------------------------------- the rule table

AUTH_RE = re.compile(r"Authorization:\s*(.*?)(?:\.\s*$|\.\s+[A-Z]|$)", re.S)


def contract_rules(source_root):
    """{(interface, method): rule} from the "Authorization: …" comment before each method."""
    rules = {}
    for f in ("org.llmlab.Lab1.Manager.xml", "org.llmlab.Lab1.Run.xml", "org.llmlab.Lab1.Job.xml"):
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        root = ET.parse(os.path.join(source_root, "dbus", f), parser).getroot()
        for iface in root.iter("interface"):
            comment = None
            for node in iface:
                if node.tag is ET.Comment:
                    comment = node.text
                elif node.tag == "method":
                    m = AUTH_RE.search(" ".join((comment or "").split()))
                    rules[(iface.get("name"), node.get("name"))] = _rule_from_words(m.group(1) if m else "")
                    comment = None
                else:
                    comment = None
    return rules


def _rule_from_words(words):
    words = words.strip()
    if words.startswith("anyone"):
        return ("anyone", None)
    if words == "owner or org.llmlab.manage":
        return ("owner-or-manage", MANAGE)
    m = re.fullmatch(r"owner with (org\.llmlab\.[a-z-]+), or org\.llmlab\.manage", words)
    if m:
        return ("owner-action-or-manage", m.group(1))
    if re.fullmatch(r"org\.llmlab\.[a-z-]+", words):
        return ("action", words)
    return ("undocumented", words)


def code_rules(source_root):
    """{(interface, method): rule} from auth_table[] in daemon/bus-manager.c."""
    with open(os.path.join(source_root, "daemon", "bus-manager.c")) as f:
        src = f.read()
    actions = dict(re.findall(r'#define (ACTION_\w+)\s+"([^"]+)"', src))
    ifaces = {"LAB_MANAGER_IFACE": MANAGER_IFACE, "LAB_RUN_IFACE": RUN_IFACE, "LAB_JOB_IFACE": JOB_IFACE}
    kinds = {"BUS_AUTH_ANYONE": "anyone", "BUS_AUTH_ACTION": "action", "BUS_AUTH_OWNER_OR_MANAGE": "owner-or-manage",
             "BUS_AUTH_OWNER_ACTION_OR_MANAGE": "owner-action-or-manage"}
    table = src[src.index("auth_table[] = {"):]
    table = table[:table.index("};")]
    rules = {}
    for iface, method, kind, action in re.findall(r'\{\s*(LAB_\w+_IFACE),\s*"(\w+)",\s*(BUS_AUTH_\w+),\s*(\w+)\s*\}',
                                                  table):
        rules[(ifaces[iface], method)] = (kinds[kind], actions.get(action))
    return rules


class SecurityCase(SystemLabTestCase):
    scenario = staticmethod(scenario)

    def setUp(self):
        super().setUp()
        self.alice = self.agent(ALICE)
        self.bob = self.agent(BOB)

    def checks_for(self, agent, action=None, since=0):
        return [c for c in self.polkit_checks()[since:] if c[0] == agent.name and (action is None or c[1] == action)]

    def wait_state(self, path, states, timeout=20):
        states = (states,) if isinstance(states, str) else states
        return self.pump_until(lambda: self.get_property(path, RUN_IFACE, "State") in states and True, timeout,
                               "run %s in state %s" % (path, "/".join(states)))

    def wait_finished(self, agent, path, timeout=60):
        """The owner's Finished signal: (result, metrics)."""
        sig = agent.wait_for_signal("Finished", path, timeout)
        return GLib.Variant.parse(None, sig["args"], None, None).unpack()

    def chunks_of(self, agent, path):
        return "".join(GLib.Variant.parse(None, s["args"], None, None).unpack()[1]
                       for s in agent.signals() if s["member"] == "Chunk" and s["path"] == path)


# ----------------------------------------------------------------------------- authorization

class AuthorizationTest(SecurityCase):
    powersim = True  # Calibrate and GetPowerTimeline need energy counters

    def test_contract_documents_the_table(self):
        contract, code = contract_rules(self.source_root), code_rules(self.source_root)
        self.assertEqual(len(contract), 25)
        self.assertEqual(code, contract)
        self.assertNotIn("undocumented", [kind for kind, _ in contract.values()])
        # Every method of the running daemon has a rule (llmlabd checks its vtables at start-up).
        for path, iface in ((MANAGER_PATH, MANAGER_IFACE),):
            xml = self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect", None, "(s)")
            methods = {m.get("name") for i in ET.fromstring(xml).iter("interface") if i.get("name") == iface
                       for m in i.iter("method")}
            self.assertEqual(methods, {m for i, m in code if i == iface})

    def action_cases(self):
        """(label, action, call(agent) → result, expected error when denied), for every
        action-gated decision, each call made by alice."""
        slow_run = self.start_run(request(user_prompt="slow root run"))
        slow_job = self.manager_call("StartBatch", args(request(user_prompt="slow root job"), {"runs": 3, "warmup": 0}),
                                     "(o)")
        own_live = self.alice_measured_run()
        self.other_benchmark = next(b["id"] for b in self.manager_call("ListBenchmarks", None, "(aa{sv})")
                                    if b["builtin"] and not b["default"])
        other_benchmark = self.other_benchmark
        self.manager_call("AddBenchmark", args({"id": "custom:gone", "name": "Gone", "wh_per_1000_input_tokens": 0.1,
                                                "wh_per_1000_output_tokens": 0.2}))
        return [
            ("StartRun", RUN, lambda a: a.start_run(request()), "PermissionDenied"),
            ("StartBatch", RUN, lambda a: a.manager_call("StartBatch", args(request(), {"runs": 1, "warmup": 0}),
                                                         "(o)"), "PermissionDenied"),
            ("StartCrossover", RUN, lambda a: a.manager_call("StartCrossover", args(request(), {"max_steps": 1}),
                                                             "(o)"), "PermissionDenied"),
            ("StartComparison", RUN, lambda a: a.manager_call(
                "StartComparison", args({"user_prompt": "hi"}, [{"model": MODEL}], {}), "(o)"), "PermissionDenied"),
            ("Calibrate", MANAGE, lambda a: a.manager_call(
                "Calibrate", args(request(measure="live", user_prompt="slow calibration"), {"runs": 4}), "(o)"),
             "PermissionDenied"),
            ("SetDefaultBenchmark", MANAGE, lambda a: a.manager_call("SetDefaultBenchmark", args(other_benchmark)),
             "PermissionDenied"),
            ("AddBenchmark", MANAGE, lambda a: a.manager_call("AddBenchmark", args(
                {"id": "custom:alice", "name": "Alice's", "wh_per_1000_input_tokens": 0.5,
                 "wh_per_1000_output_tokens": 1.5})), "PermissionDenied"),
            ("RemoveBenchmark", MANAGE, lambda a: a.manager_call("RemoveBenchmark", args("custom:gone")),
             "PermissionDenied"),
            ("GetEnergyStatus", READ_ENERGY, lambda a: a.manager_call("GetEnergyStatus", None, "(a{sv})"),
             "PermissionDenied"),
            ("ListRuns all_users", MANAGE, lambda a: a.manager_call("ListRuns", args({"all_users": True}), "(aa{sv})"),
             "PermissionDenied"),
            ("ExportRuns all_users", MANAGE, lambda a: a.export("json", {"all_users": True}), "PermissionDenied"),
            ("Run.GetPowerTimeline (own)", READ_ENERGY,
             lambda a: a.call(own_live, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))"), "PermissionDenied"),
            ("Run.GetTranscript (other's)", MANAGE,
             lambda a: a.call(slow_run, RUN_IFACE, "GetTranscript", None, "(ss)"), "NotOwner"),
            ("Run.GetResult (other's)", MANAGE,
             lambda a: a.call(slow_run, RUN_IFACE, "GetResult", None, "(a{sv})"), "NotOwner"),
            ("Job.GetSummary (other's)", MANAGE,
             lambda a: a.call(slow_job, JOB_IFACE, "GetSummary", None, "(a{sv})"), "NotOwner"),
            ("Run.GetPowerTimeline (other's)", MANAGE,
             lambda a: a.call(own_live, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))"), "NotOwner"),
            ("Run.Cancel (other's)", MANAGE, lambda a: a.call(slow_run, RUN_IFACE, "Cancel"), "NotOwner"),
            ("Job.Cancel (other's)", MANAGE, lambda a: a.call(slow_job, JOB_IFACE, "Cancel"), "NotOwner"),
        ]

    def alice_measured_run(self):
        self.set_allowed([RUN])
        path = self.alice.start_run(request(measure="live", user_prompt="measured"))
        result, metrics = self.wait_finished(self.alice, path)
        self.assertEqual(result, "done", metrics)
        self.assertTrue(metrics["energy"]["measured"])
        return path

    def test_every_action_denied_then_allowed(self):
        cases = self.action_cases()
        for label, action, call, denial in cases:
            caller = self.bob if label.endswith("(other's)") and "PowerTimeline" in label else self.alice
            with self.subTest(label):
                # Every other action granted: exactly this one is missing.
                self.set_allowed([a for a in ACTIONS if a != action])
                n = len(self.polkit_checks())
                with self.assertAgentError(denial) as cm:
                    call(caller)
                if denial == "PermissionDenied":
                    self.assertIn(action, cm.message)
                self.assertEqual([c[1] for c in self.checks_for(caller, since=n)], [action])

                self.set_allowed([action])
                result = call(caller)
                if label.startswith(("Start", "Calibrate")):  # work was started: stop it
                    caller.call(result, JOB_IFACE if "/job/" in result else RUN_IFACE, "Cancel")
        # What the allowed calls did.
        self.assertEqual(self.get_property(MANAGER_PATH, MANAGER_IFACE, "DefaultBenchmark"), self.other_benchmark)
        ids = [b["id"] for b in self.manager_call("ListBenchmarks", None, "(aa{sv})")]
        self.assertIn("custom:alice", ids)
        self.assertNotIn("custom:gone", ids)

    def anyone_calls(self):
        own = self.alice_own_run
        return [
            ("ListModels", lambda a: a.manager_call("ListModels", args({}), "(aa{sv})")),
            ("GetModelInfo", lambda a: a.manager_call("GetModelInfo", args(MODEL, {}), "(a{sv})")),
            ("ListSystemPrompts", lambda a: a.manager_call("ListSystemPrompts", None, "(aa{sv})")),
            ("GetSystemPrompt", lambda a: a.manager_call("GetSystemPrompt", args("concise"), "(s)")),
            ("ListBenchmarks", lambda a: a.manager_call("ListBenchmarks", None, "(aa{sv})")),
            ("ListRegions", lambda a: a.manager_call("ListRegions", None, "(aa{sv})")),
            ("GetSessionSummary", lambda a: a.manager_call("GetSessionSummary", None, "(a{sv})")),
            ("ListRuns", lambda a: a.manager_call("ListRuns", args({}), "(aa{sv})")),
            ("ExportRuns", lambda a: a.export("csv")),
            ("ClearSession", lambda a: a.manager_call("ClearSession")),
            ("Properties.GetAll", lambda a: a.call(MANAGER_PATH, PROPS, "GetAll", GLib.Variant("(s)", (MANAGER_IFACE,)),
                                                   "(a{sv})")),
            ("Introspect", lambda a: a.call(MANAGER_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", None,
                                            "(s)")),
            ("Run.GetTranscript (own)", lambda a: a.call(own, RUN_IFACE, "GetTranscript", None, "(ss)")),
            ("Run.GetResult (own)", lambda a: a.call(own, RUN_IFACE, "GetResult", None, "(a{sv})")),
            ("Run.Cancel (own)", lambda a: a.call(own, RUN_IFACE, "Cancel")),
        ]

    def assertAnyoneAllowed(self):
        n = len(self.polkit_checks())
        for label, call in self.anyone_calls():
            with self.subTest(label):
                call(self.alice)
        self.assertEqual(self.checks_for(self.alice, since=n), [])  # polkit was never asked

    def test_anyone_methods_need_no_authorization(self):
        self.set_allowed([RUN])
        self.alice_own_run = self.alice.start_run(request(user_prompt="slow own run"))
        self.set_allowed([])
        self.assertAnyoneAllowed()
        self.assertEqual(self.get_property(self.alice_own_run, RUN_IFACE, "State"), "cancelled")

    def test_polkit_absent_fails_closed(self):
        self.set_allowed([RUN])
        self.alice_own_run = self.alice.start_run(request(user_prompt="slow own run"))
        cases = self.action_cases()
        self.stop_polkit()
        n = len(self.polkit_checks())
        for label, action, call, denial in cases:
            with self.subTest(label):
                with self.assertAgentError(denial) as cm:
                    call(self.bob if label.endswith("(other's)") and "PowerTimeline" in label else self.alice)
                if denial == "PermissionDenied":
                    self.assertIn("polkit is unavailable", cm.message)
        self.assertAnyoneAllowed()
        # Nothing changed.
        self.assertEqual(self.get_property(MANAGER_PATH, MANAGER_IFACE, "DefaultBenchmark"), BENCHMARK)
        ids = [b["id"] for b in self.manager_call("ListBenchmarks", None, "(aa{sv})")]
        self.assertIn("custom:gone", ids)
        self.assertNotIn("custom:alice", ids)
        self.assertEqual(self.polkit_checks()[n:], [])  # nobody was there to ask

    def test_slow_polkit_does_not_block_the_daemon(self):
        self.set_allowed([READ_ENERGY])
        self.polkit_mock("SimulateHangActions", [READ_ENERGY])
        pending = self.alice.call_async(MANAGER_PATH, MANAGER_IFACE, "GetEnergyStatus", reply_type="(a{sv})")
        self.pump_until(lambda: self.checks_for(self.alice, READ_ENERGY), 10, "the polkit check")
        self.assertTrue(self.polkit_mock("HaveHangingCalls"))
        # While polkit thinks, the daemon serves everyone, the waiting caller included.
        self.assertEqual(len(self.alice.manager_call("ListRegions", None, "(aa{sv})")) > 0, True)
        self.assertEqual(self.bob.get_property(MANAGER_PATH, MANAGER_IFACE, "Version"), "0.1.0")
        self.assertEqual(self.run_to_end(request())[0], "done")
        self.polkit_mock("ReleaseHangingCalls")
        status = self.alice.result(pending)
        self.assertIn("sources", status)

    @lab_options(config_extra={"Daemon": {"LingerSec": "1"}})
    def test_an_answer_no_call_takes_is_dropped(self):
        """polkit answers after the run went away: sd-bus answers the call itself (UnknownObject), and the
        answer the daemon kept for the call is dropped later rather than kept for ever."""
        self.set_allowed([RUN, MANAGE])
        run = self.alice.start_run(request())
        self.assertEqual(self.wait_finished(self.alice, run)[0], "done")
        self.polkit_mock("SimulateHangActions", [MANAGE])
        n = len(self.polkit_checks())
        pending = self.bob.call_async(run, RUN_IFACE, "GetTranscript", reply_type="(ss)")
        self.pump_until(lambda: self.checks_for(self.bob, MANAGE, since=n), 10, "the polkit check")
        self.pump_until(lambda: any(s.member == "RunRemoved" for s in self.signals), 10, "the run to go away")
        self.polkit_mock("ReleaseHangingCalls")
        with self.assertAgentError("org.freedesktop.DBus.Error.UnknownObject"):
            self.bob.result(pending)
        time.sleep(10.5)  # POLKIT_STALE_USEC
        self.polkit_mock("SimulateHangActions", [])
        with self.assertAgentError("PermissionDenied"):
            self.bob.call(MANAGER_PATH, MANAGER_IFACE, "GetEnergyStatus", None, "(a{sv})")
        self.wait_for_log("Dropped 1 polkit answer(s) that no call took.")

    def test_interactive_authorization(self):
        self.set_allowed([])
        for interactive, flags in ((True, 1), (False, 0)):
            n = len(self.polkit_checks())
            with self.assertAgentError("PermissionDenied"):
                self.alice.call(MANAGER_PATH, MANAGER_IFACE, "GetEnergyStatus", None, "(a{sv})",
                                interactive=interactive)
            self.assertEqual(self.checks_for(self.alice, since=n), [(self.alice.name, READ_ENERGY, flags)])

    def test_llmlabctl_asks_interactively_only_on_a_tty(self):
        self.set_allowed([])

        def flags_of(*ctl_args, tty):
            n = len(self.polkit_checks())
            master, slave = pty.openpty() if tty else (None, subprocess.DEVNULL)
            try:
                proc = subprocess.run(self.ctl_argv() + list(ctl_args) + ["energy"], stdin=slave,
                                      capture_output=True, text=True, env=self.client_env({"HOME": self.tmpdir}),
                                      user=ALICE, group=ALICE, extra_groups=[], timeout=60)
            finally:
                if tty:
                    os.close(master)
                    os.close(slave)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("Not authorized", proc.stderr)
            return [c[1:] for c in self.polkit_checks()[n:]]

        self.assertEqual(flags_of(tty=True), [(READ_ENERGY, 1)])
        self.assertEqual(flags_of("--no-ask-password", tty=True), [(READ_ENERGY, 0)])
        self.assertEqual(flags_of(tty=False), [(READ_ENERGY, 0)])

    def test_root_is_always_allowed(self):
        self.set_allowed([])
        self.assertIn("sources", self.manager_call("GetEnergyStatus", None, "(a{sv})"))
        self.manager_call("SetDefaultBenchmark", args(BENCHMARK))
        self.assertEqual(self.polkit_checks(), [])

    def test_configuration_cannot_be_changed(self):
        """No method or property sets a backend URL or any other configuration, for anyone."""
        backends = self.get_property(MANAGER_PATH, MANAGER_IFACE, "Backends")
        job = self.manager_call("StartBatch", args(request(), {"runs": 1, "warmup": 0}), "(o)")
        run = self.start_run(request())
        for path in (MANAGER_PATH, run, job):
            xml = self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect", None, "(s)")
            for iface in ET.fromstring(xml).iter("interface"):
                if not iface.get("name").startswith("org.llmlab."):
                    continue
                for prop in iface.iter("property"):
                    self.assertEqual(prop.get("access"), "read", "%s.%s" % (iface.get("name"), prop.get("name")))
                for method in iface.iter("method"):
                    self.assertNotRegex(method.get("name"), r"(?i)url|endpoint|config|backend|server")
                    for arg in method.iter("arg"):
                        self.assertNotRegex(arg.get("name"), r"(?i)url|endpoint|config")
        # Root cannot set it either.
        with self.assertDBusError("org.freedesktop.DBus.Error.PropertyReadOnly"):
            self.call(MANAGER_PATH, PROPS, "Set", GLib.Variant("(ssv)", (MANAGER_IFACE, "Backends", GLib.Variant(
                "aa{sv}", [{"id": GLib.Variant("s", "ollama"), "url": GLib.Variant("s", "http://192.0.2.1:80")}]))))
        # A request names a configured backend by id; a URL is no id. (The run and the job above
        # end first: their own requests to the server must not count.)
        for path, iface in ((run, RUN_IFACE), (job, JOB_IFACE)):
            self.pump_until(lambda: self.get_property(path, iface, "State") in ("done", "cancelled", "failed"),
                            60, "%s to end" % path)
        n = len(self.server.requests)
        for req in (request(backend="http://192.0.2.1:11434"), dict(request(), url="http://192.0.2.1:11434"),
                    dict(request(), endpoint="http://192.0.2.1:11434")):
            with self.assertDBusError("InvalidArgument"):
                self.start_run(req)
        self.assertEqual(len(self.server.requests), n)
        self.assertEqual(self.get_property(MANAGER_PATH, MANAGER_IFACE, "Backends"), backends)
        self.assertEqual(backends[0]["url"], self.server.url)


# ----------------------------------------------------------------------------- privacy

class PrivacyTest(SecurityCase):
    def test_a_listener_sees_none_of_another_users_text(self):
        self.set_allowed([RUN])
        run = self.alice.start_run(request(user_prompt="secret ALICESECRET"))
        result, metrics = self.wait_finished(self.alice, run)
        self.assertEqual(result, "done")
        self.assertEqual(self.chunks_of(self.alice, run), "ANSWER-OF-ALICESECRET" * 10)
        self.assertEqual(self.alice.call(run, RUN_IFACE, "GetTranscript", None, "(ss)"),
                         ("ANSWER-OF-ALICESECRET" * 10, ""))

        # Bob listened to every signal he could get, root too: the run's broadcasts (RunNew,
        # PropertiesChanged) but no text, no Chunk, no Finished, no result.
        self.bob.sync()
        seen = self.bob.signals()
        self.assertIn(("RunNew", MANAGER_PATH), [(s["member"], s["path"]) for s in seen])
        for s in seen:
            self.assertNotIn("ALICESECRET", s["args"], s)
            self.assertNotIn(s["member"], ("Chunk", "Finished"), s)
        self.assertFalse([s for s in self.signals if s.member in ("Chunk", "Finished") and s.path == run])
        self.assertNotIn("ALICESECRET", repr([s.args for s in self.signals]))
        changed = [s for s in seen if s["member"] == "PropertiesChanged" and s["path"] == run]
        self.assertTrue(changed)
        for s in changed:  # Result is only ever invalidated, never sent
            changes = GLib.Variant.parse(None, s["args"], None, None).unpack()[1]
            self.assertNotIn("Result", changes)

        # Bob asks directly.
        with self.assertAgentError("NotOwner"):
            self.bob.call(run, RUN_IFACE, "GetTranscript", None, "(ss)")
        with self.assertAgentError("NotOwner"):
            self.bob.get_property(run, RUN_IFACE, "Result")
        props = self.bob.call(run, PROPS, "GetAll", GLib.Variant("(s)", (RUN_IFACE,)), "(a{sv})")
        self.assertEqual(props["Result"], {})
        self.assertEqual((props["Owner"], props["State"]), (ALICE, "done"))
        self.assertEqual(self.bob.manager_call("ListRuns", args({}), "(aa{sv})"), [])
        self.assertNotIn("ALICESECRET", self.bob.export("json"))
        self.assertEqual(self.bob.manager_call("GetSessionSummary", None, "(a{sv})")["runs"], 0)
        # Alice's own view.
        self.assertEqual(self.alice.get_property(run, RUN_IFACE, "Result")["run"], metrics["run"])
        self.assertEqual(self.alice.call(run, RUN_IFACE, "GetResult", None, "(a{sv})"),
                         self.alice.get_property(run, RUN_IFACE, "Result"))
        self.assertIn("ALICESECRET", self.alice.export("json"))

    def test_another_users_run_and_job_are_not_owner(self):
        self.set_allowed([RUN])
        run = self.alice.start_run(request(user_prompt="slow alice"))
        job = self.alice.manager_call("StartBatch", args(request(user_prompt="slow alice job"), {"runs": 2,
                                                                                              "warmup": 0}), "(o)")
        self.wait_state(run, "decoding")
        for call in (lambda: self.bob.call(run, RUN_IFACE, "Cancel"),
                     lambda: self.bob.call(run, RUN_IFACE, "GetTranscript", None, "(ss)"),
                     lambda: self.bob.call(run, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))"),
                     lambda: self.bob.get_property(run, RUN_IFACE, "Result"),
                     lambda: self.bob.call(run, RUN_IFACE, "GetResult", None, "(a{sv})"),
                     lambda: self.bob.call(job, JOB_IFACE, "Cancel"),
                     lambda: self.bob.get_property(job, JOB_IFACE, "Summary"),
                     lambda: self.bob.call(job, JOB_IFACE, "GetSummary", None, "(a{sv})")):
            with self.assertAgentError("NotOwner"):
                call()
        self.assertEqual(self.bob.call(job, PROPS, "GetAll", GLib.Variant("(s)", (JOB_IFACE,)), "(a{sv})")["Summary"],
                         {})
        # Nothing was disturbed: both still run, and end as their owner decides.
        self.assertEqual(self.get_property(run, RUN_IFACE, "State"), "decoding")
        self.assertEqual(self.get_property(job, JOB_IFACE, "State"), "running")
        self.alice.call(job, JOB_IFACE, "Cancel")
        self.assertEqual(self.wait_finished(self.alice, run)[0], "done")
        answer = self.alice.call(run, RUN_IFACE, "GetTranscript", None, "(ss)")[0]
        self.assertEqual(self.chunks_of(self.alice, run), answer)
        self.assertEqual(self.server.chats[0].pieces_sent, 300)

    def test_manage_reads_and_cancels_other_users_runs(self):
        self.set_allowed([RUN, MANAGE])
        run = self.alice.start_run(request(user_prompt="slow alice"))
        self.wait_state(run, "decoding")
        answer, _ = self.bob.call(run, RUN_IFACE, "GetTranscript", None, "(ss)")
        self.assertTrue(answer)
        self.assertEqual(self.bob.call(run, RUN_IFACE, "GetResult", None, "(a{sv})"), {})  # not finished yet
        self.bob.call(run, RUN_IFACE, "Cancel")
        result, metrics = self.wait_finished(self.alice, run)
        self.assertEqual(result, "cancelled")
        # The property stays owner-only (a getter cannot wait for polkit); the method serves manage.
        with self.assertAgentError("NotOwner"):
            self.bob.get_property(run, RUN_IFACE, "Result")
        self.assertEqual(self.bob.call(run, RUN_IFACE, "GetResult", None, "(a{sv})")["run"], metrics["run"])
        self.server.wait_cancelled(1)
        self.assertIn(ALICE, [r["uid"] for r in self.bob.manager_call("ListRuns", args({"all_users": True}),
                                                                      "(aa{sv})")])
        self.assertIn("slow alice", self.bob.export("json", {"all_users": True}))
        # Manage grants no text by broadcast: the chunks still went to alice only.
        self.bob.sync()
        self.assertFalse([s for s in self.bob.signals() if s["member"] == "Chunk"])

    def test_sessions_and_history_are_per_user(self):
        self.set_allowed([RUN])
        mine = [self.alice.start_run(request(user_prompt="alice %d" % i)) for i in range(2)]
        theirs = self.bob.start_run(request(user_prompt="bob 0"))
        for agent, path in [(self.alice, p) for p in mine] + [(self.bob, theirs)]:
            self.assertEqual(self.wait_finished(agent, path)[0], "done")
        alice_runs = self.alice.manager_call("ListRuns", args({}), "(aa{sv})")
        bob_runs = self.bob.manager_call("ListRuns", args({}), "(aa{sv})")
        self.assertEqual(sorted(r["user_prompt"] for r in alice_runs), ["alice 0", "alice 1"])
        self.assertEqual([r["user_prompt"] for r in bob_runs], ["bob 0"])
        self.assertEqual({r["uid"] for r in alice_runs}, {ALICE})
        self.assertEqual(self.alice.manager_call("GetSessionSummary", None, "(a{sv})")["runs"], 2)
        self.assertEqual(self.bob.manager_call("GetSessionSummary", None, "(a{sv})")["runs"], 1)
        exported = json.loads(self.bob.export("json"))
        self.assertEqual([r["request"]["user_prompt"] for r in exported], ["bob 0"])
        # Bob's new session leaves alice's alone.
        self.bob.manager_call("ClearSession")
        self.assertEqual(self.bob.manager_call("GetSessionSummary", None, "(a{sv})")["runs"], 0)
        self.assertEqual(self.alice.manager_call("GetSessionSummary", None, "(a{sv})")["runs"], 2)
        with self.assertAgentError("PermissionDenied"):
            self.bob.manager_call("ListRuns", args({"all_users": True}), "(aa{sv})")

    @lab_options(powersim=True)
    def test_power_timeline_and_counters_need_read_energy(self):
        self.set_allowed([RUN])
        run = self.alice.start_run(request(measure="live", user_prompt="measured"))
        self.assertEqual(self.wait_finished(self.alice, run)[0], "done")
        for agent in (self.alice, self.bob):
            with self.assertAgentError("PermissionDenied"):
                agent.manager_call("GetEnergyStatus", None, "(a{sv})")
        with self.assertAgentError("PermissionDenied"):
            self.alice.call(run, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))")
        self.set_allowed([RUN, READ_ENERGY])
        samples, phases = self.alice.call(run, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))")
        self.assertTrue(samples)
        self.assertEqual([p[0] for p in phases][-2:], ["prefill", "decode"])
        with self.assertAgentError("NotOwner"):  # read-energy is for one's own runs
            self.bob.call(run, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))")
        self.set_allowed([MANAGE])
        self.assertEqual(self.bob.call(run, RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))")[0], samples)
        # No raw counter in what anyone may read.
        for source in self.bob.get_property(MANAGER_PATH, MANAGER_IFACE, "EnergySources"):
            self.assertNotIn("energy_uj", source)


# ----------------------------------------------------------------------------- limits

class LimitsTest(SecurityCase):
    @lab_options(config_extra={"Daemon": {"MaxRunsPerUser": "2"}})
    def test_runs_per_user(self):
        self.set_allowed([RUN])
        a = [self.alice.start_run(request(user_prompt="slow alice %d" % i)) for i in range(2)]
        with self.assertAgentError("TooManyRuns") as cm:
            self.alice.start_run(request())
        self.assertIn("at most 2", cm.message)
        b = self.bob.start_run(request(user_prompt="secret BOB"))  # per user: bob is not affected
        self.assertEqual(self.wait_finished(self.bob, b)[0], "done")
        self.alice.call(a[0], RUN_IFACE, "Cancel")
        self.assertEqual(self.wait_finished(self.alice, a[0])[0], "cancelled")
        c = self.alice.start_run(request(user_prompt="secret ALICE"))  # a slot is free again
        self.assertEqual(self.wait_finished(self.alice, c)[0], "done")
        self.assertEqual(self.wait_finished(self.alice, a[1])[0], "done")

    @lab_options(config_extra={"Daemon": {"MaxRunsPerUser": "2"}})
    def test_runs_per_user_in_one_burst(self):
        """Calls that arrive together, before the first run exists, are counted too."""
        self.set_allowed([RUN])
        pending = [self.alice.call_async(MANAGER_PATH, MANAGER_IFACE, "StartRun",
                                         args(request(user_prompt="slow %d" % i)), "(o)") for i in range(6)]
        started, refused = [], []
        for p in pending:
            try:
                started.append(self.alice.result(p))
            except AgentError as e:
                refused.append(e.name)
        self.assertEqual(len(started), 2, refused)
        self.assertEqual(refused, [labtest.ERROR_PREFIX + "TooManyRuns"] * 4)
        for path in started:
            self.alice.call(path, RUN_IFACE, "Cancel")

    @lab_options(powersim=True, config_extra={"Daemon": {"MaxQueueLength": "2", "MaxRunsPerUser": "10"}})
    def test_queue_length(self):
        self.set_allowed([RUN])
        first = self.alice.start_run(request(measure="live", user_prompt="slow first"))
        self.wait_state(first, ("loading", "prefill", "decoding"))
        queued = [self.bob.start_run(request(measure="live", user_prompt="secret Q%d" % i)) for i in range(2)]
        self.assertEqual([self.get_property(p, RUN_IFACE, "QueuePosition") for p in queued], [1, 2])
        with self.assertAgentError("QueueFull") as cm:
            self.alice.start_run(request(measure="live"))
        self.assertIn("2 runs waiting", cm.message)
        # Unmeasured runs do not queue; the queued runs keep their places and all finish.
        other = self.alice.start_run(request(user_prompt="secret FREE"))
        self.assertEqual(self.wait_finished(self.alice, other)[0], "done")
        self.alice.call(first, RUN_IFACE, "Cancel")
        for p in queued:
            result, metrics = self.wait_finished(self.bob, p)
            self.assertEqual(result, "done")
            self.assertTrue(metrics["energy"]["measured"])

    @lab_options(config_extra={"Daemon": {"MaxBatchRuns": "3"}})
    def test_runs_per_batch(self):
        self.set_allowed([RUN, MANAGE])
        for method, options in (("StartBatch", {"runs": 4, "warmup": 0}), ("StartBatch", {"runs": 0}),
                                ("StartCrossover", {"max_steps": 4})):
            with self.subTest(method=method, options=options):
                with self.assertAgentError("InvalidArgument") as cm:
                    self.alice.manager_call(method, args(request(), options), "(o)")
                self.assertRegex(cm.message, r"between 1 and 3")
        job = self.alice.manager_call("StartBatch", args(request(user_prompt="secret BATCH"), {"runs": 3, "warmup": 0}),
                                      "(o)")
        result, summary = GLib.Variant.parse(
            None, self.alice.wait_for_signal("Finished", job)["args"], None, None).unpack()
        self.assertEqual((result, self.get_property(job, JOB_IFACE, "Progress")), ("done", (3, 3)))

    def test_runs_per_batch_default(self):
        self.set_allowed([RUN])
        with self.assertAgentError("InvalidArgument") as cm:
            self.alice.manager_call("StartBatch", args(request(), {"runs": 1001}), "(o)")
        self.assertIn("between 1 and 1000", cm.message)

    def test_request_sizes(self):
        self.set_allowed([])  # refused before polkit is even asked
        n = len(self.polkit_checks())
        for req, text in ((request(user_prompt="x" * (256 * 1024 + 1)), "user_prompt is too long"),
                          (request(system_prompt="y" * (256 * 1024 + 1)), "system_prompt is too long"),
                          (request(injections=[("d%d" % i, "c") for i in range(33)]), "too many injections"),
                          (request(injections=[("big", "y" * (64 * 1024 + 1))]), "injection content is too long"),
                          (request(user_prompt="x" * 250000, system_prompt="y" * 250000,
                                   conversation_context="z" * 250000, injections=[("a", "w" * 60000)] * 10),
                           "too long"),
                          (request(label="l" * 257), "label is too long"),
                          (request(model="m" * 257), "model is too long"),
                          (request(max_tokens=32769), "max_tokens must be between 1 and 32768")):
            with self.subTest(text):
                with self.assertAgentError("InvalidArgument") as cm:
                    self.alice.start_run(req)
                self.assertIn(text, cm.message)
        self.assertEqual(self.checks_for(self.alice, since=n), [])
        self.assertEqual(self.server.chats, [])
        self.set_allowed([RUN])
        path = self.alice.start_run(request(user_prompt="secret AFTER"))
        self.assertEqual(self.wait_finished(self.alice, path)[0], "done")

    @lab_options(config_extra={"Daemon": {"MaxTranscriptBytes": "4096"}})
    def test_transcript_size(self):
        self.set_allowed([RUN])
        big = self.alice.start_run(request(user_prompt="big 1000 10"))
        small = self.bob.start_run(request(user_prompt="secret BOB"))
        result, metrics = self.wait_finished(self.alice, big)
        self.assertEqual(result, "failed")
        self.assertEqual(self.get_property(big, RUN_IFACE, "Error"),
                         (labtest.ERROR_PREFIX + "BackendError",
                          "The answer is longer than 4096 bytes (MaxTranscriptBytes=), the run was stopped"))
        answer, _ = self.alice.call(big, RUN_IFACE, "GetTranscript", None, "(ss)")
        self.assertEqual(answer, "x" * 4000)
        self.assertEqual(self.chunks_of(self.alice, big), "x" * 4000)
        self.server.wait_cancelled(1)  # the connection was closed
        self.assertEqual(self.wait_finished(self.bob, small)[0], "done")
        self.assertEqual(self.bob.call(small, RUN_IFACE, "GetTranscript", None, "(ss)")[0], "ANSWER-OF-BOB" * 10)

    def test_transcript_size_default(self):
        """16 MiB by default (root's own run: no agent has to relay 16 MiB of chunks)."""
        path = self.start_run(request(user_prompt="big 65536 257"))
        result, metrics, chunks = self.wait_run(path, timeout=120)
        self.assertEqual(result, "failed")
        self.assertIn("longer than 16777216 bytes", self.get_property(path, RUN_IFACE, "Error")[1])
        self.assertEqual(len(labtest.chunk_text(chunks)[0]), 256 * 65536)


# ----------------------------------------------------------------------------- leaks

def _build_option(build_root, name):
    with open(os.path.join(build_root, "meson-info", "intro-buildoptions.json")) as f:
        for opt in json.load(f):
            if opt["name"] == name:
                return opt["value"]
    return None


class LeakCheckTest(SecurityCase):
    """The daemon through a few runs (one cancelled, one over the transcript cap), denials, another
    user's attempts and a job, then a clean exit: under valgrind, or in the ASan build (valgrind
    cannot run ASan binaries) under LeakSanitizer, which fails the exit the same way."""

    VALGRIND = ("valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite "
                "--error-exitcode=1 --num-callers=30")
    config_extra = {"Daemon": {"MaxTranscriptBytes": "4096"}}

    def setUp(self):
        build_root = os.environ.get("LLMLAB_BUILD_ROOT", "")
        self.sanitized = _build_option(build_root, "b_sanitize") not in (None, "none")
        self.wrapper = None if self.sanitized else self.VALGRIND
        old = os.environ.get("LLMLAB_TEST_WRAPPER")
        if self.wrapper:
            os.environ["LLMLAB_TEST_WRAPPER"] = self.wrapper
        self.addCleanup(lambda: os.environ.pop("LLMLAB_TEST_WRAPPER", None) if old is None
                        else os.environ.__setitem__("LLMLAB_TEST_WRAPPER", old))
        super().setUp()

    def test_no_leaks(self):
        self.set_allowed([RUN])
        done = self.alice.start_run(request(user_prompt="secret ALICE"))
        self.assertEqual(self.wait_finished(self.alice, done)[0], "done")
        cancelled = self.alice.start_run(request(user_prompt="slow cancel me"))
        self.wait_state(cancelled, "decoding", timeout=60)
        with self.assertAgentError("NotOwner"):
            self.bob.call(cancelled, RUN_IFACE, "Cancel")
        self.alice.call(cancelled, RUN_IFACE, "Cancel")
        self.assertEqual(self.wait_finished(self.alice, cancelled)[0], "cancelled")
        over = self.alice.start_run(request(user_prompt="big 1000 10"))
        self.assertEqual(self.wait_finished(self.alice, over)[0], "failed")
        with self.assertAgentError("PermissionDenied"):
            self.bob.manager_call("GetEnergyStatus", None, "(a{sv})")
        with self.assertAgentError("NoSuchModel"):
            self.bob.start_run(request(model="no-such-model"))
        job = self.bob.manager_call("StartBatch", args(request(user_prompt="secret JOB"), {"runs": 2, "warmup": 0}),
                                    "(o)")
        self.assertEqual(GLib.Variant.parse(None, self.bob.wait_for_signal("Finished", job, 120)["args"], None,
                                            None).unpack()[0], "done")
        self.stop_polkit()
        with self.assertAgentError("PermissionDenied"):
            self.alice.start_run(request())
        self.assertEqual(len(self.alice.manager_call("ListRuns", args({}), "(aa{sv})")), 3)

        code = self.stop_daemon(timeout=60)
        log = self.daemon_log()
        self.assertEqual(code, 0, log[-4000:])
        if self.wrapper:
            self.assertIn("ERROR SUMMARY: 0 errors", log)
            self.assertRegex(log, r"definitely lost: 0 bytes|All heap blocks were freed|no leaks are possible")
        else:
            self.assertNotIn("LeakSanitizer", log)
            self.assertNotIn("runtime error", log)  # UBSan
        self.daemon = None


if __name__ == "__main__":
    labtest.main()
