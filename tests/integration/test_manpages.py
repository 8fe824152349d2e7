#!/usr/bin/python3
"""The documentation keeps up with the programs: every verb and option that `llmlabctl --help` and
each verb's `--help` print is in llmlabctl(1) and in the bash and zsh completions; every option of
`llmlabd --help` is in llmlabd(8); every key the daemon's configuration parser knows is in
llmlab.conf(5); every member of the D-Bus XML and every error of the error table is in the
generated org.llmlab.Lab1(5). The built man pages render without a warning.

No daemon is needed: plain unittest.
"""

import os
import re
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True

SOURCE_ROOT = os.environ.get("LLMLAB_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_ROOT = os.environ.get("LLMLAB_BUILD_ROOT")

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def options_in(help_text):
    """The options of a help text: those at the start of its option lines, and in its synopsis."""
    found = set()
    for line in help_text.splitlines():
        stripped = line.strip()
        # Option lines ("  -m --model=MODEL  …"), synopsis lines ("llmlabctl batch … [--runs N]") and
        # the commands list ("  export --format …").
        if stripped.startswith("-") or stripped.startswith("llmlabctl") or line.startswith("  "):
            head = stripped if stripped.startswith("llmlabctl") else re.split(r"\s{2,}", stripped)[0]
            found.update(OPTION.findall(head))
    return found


class CtlManPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD_ROOT:
            raise unittest.SkipTest("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        cls.ctl = os.path.join(BUILD_ROOT, "client", "ctl", "llmlabctl")
        cls.man = read(SOURCE_ROOT, "client", "ctl", "llmlabctl.1.scd")
        cls.bash = read(SOURCE_ROOT, "client", "ctl", "completions", "llmlabctl.bash")
        cls.zsh = read(SOURCE_ROOT, "client", "ctl", "completions", "_llmlabctl")
        cls.help = cls.run_ctl("--help")
        section = cls.help.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
        cls.verbs = []
        for line in section.splitlines():
            m = re.match(r"^  ([a-z][a-z-]*)\b", line)
            if m and m.group(1) not in cls.verbs:
                cls.verbs.append(m.group(1))

    @classmethod
    def run_ctl(cls, *args):
        proc = subprocess.run([cls.ctl] + list(args), capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, COLUMNS="200"))
        if proc.returncode != 0:
            raise AssertionError("llmlabctl %s failed: %s" % (" ".join(args), proc.stderr))
        return proc.stdout

    def verb_help(self, verb):
        return self.run_ctl(verb, "--help")

    def test_verbs_found(self):
        self.assertEqual(self.verbs, ["status", "energy", "models", "model-info", "prompts", "run", "run-energy",
                                      "benchmarks", "session", "history", "export", "batch", "crossover",
                                      "calibrate", "compare"])

    def test_every_verb_in_the_man_page(self):
        for verb in self.verbs:
            with self.subTest(verb=verb):
                self.assertRegex(self.man, r"(?m)^\*%s\*( |$)" % re.escape(verb))

    def test_every_option_in_the_man_page(self):
        helps = {"": self.help}
        helps.update({verb: self.verb_help(verb) for verb in self.verbs})
        for verb, text in helps.items():
            opts = options_in(text)
            self.assertTrue(opts or verb in ("status", "energy", "prompts", "session"), verb)
            for opt in sorted(opts):
                with self.subTest(verb=verb, option=opt):
                    self.assertIn("*%s*" % opt, self.man, "%s of '%s --help' is not in llmlabctl(1)" % (opt, verb))

    def test_bash_completion_knows_every_verb_and_option(self):
        verb_table = re.search(r"local -A verb_opts=\((.*?)\n    \)", self.bash, re.S).group(1)
        listed = re.findall(r"\[([a-z-]+)\]=", verb_table)
        self.assertEqual(sorted(listed), sorted(self.verbs))
        for verb in self.verbs:
            for opt in sorted(options_in(self.verb_help(verb))):
                with self.subTest(verb=verb, option=opt):
                    self.assertRegex(self.bash, r"(?<![\w-])%s(?![\w-])" % re.escape(opt))

    def test_bash_completion_works(self):
        script = ("source /usr/share/bash-completion/bash_completion\n"
                  "source %s\n"
                  "COMP_WORDS=(llmlabctl ba); COMP_CWORD=1; COMP_LINE='llmlabctl ba'; COMP_POINT=12\n"
                  "_llmlabctl; echo \"${COMPREPLY[*]}\"\n"
                  "COMP_WORDS=(llmlabctl batch --wa); COMP_CWORD=2; COMP_LINE='llmlabctl batch --wa'; COMP_POINT=20\n"
                  "_llmlabctl; echo \"${COMPREPLY[*]}\"\n"
                  "COMP_WORDS=(llmlabctl export --format ''); COMP_CWORD=3; COMP_LINE='llmlabctl export --format '\n"
                  "COMP_POINT=${#COMP_LINE}; _llmlabctl; echo \"${COMPREPLY[*]}\"\n"
                  % os.path.join(SOURCE_ROOT, "client", "ctl", "completions", "llmlabctl.bash"))
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, PATH=os.path.dirname(self.ctl) + ":" + os.environ["PATH"]))
        self.assertEqual(proc.stdout.splitlines(), ["batch", "--warmup", "json csv openmetrics"], proc.stderr)

    def test_zsh_completion_knows_every_verb(self):
        for verb in self.verbs:
            with self.subTest(verb=verb):
                self.assertIn("'%s:" % verb, self.zsh)


class DaemonManPagesTest(unittest.TestCase):
    def test_llmlabd_options(self):
        if not BUILD_ROOT:
            self.skipTest("LLMLAB_BUILD_ROOT is not set")
        proc = subprocess.run([os.path.join(BUILD_ROOT, "daemon", "llmlabd"), "--help"], capture_output=True,
                              text=True, timeout=30)
        man = read(SOURCE_ROOT, "docs", "llmlabd.8.scd")
        opts = options_in(proc.stdout)
        self.assertGreaterEqual(opts, {"-h", "--help", "--version", "--system", "--user", "-c", "--config", "-v",
                                       "--verbose"})
        for opt in sorted(opts):
            with self.subTest(option=opt):
                self.assertIn("*%s*" % opt, man)
        # Every environment variable the daemon reads.
        for name in sorted(set(re.findall(r'getenv\("([A-Z_]+)"\)', "".join(
                read(SOURCE_ROOT, "daemon", f) for f in os.listdir(os.path.join(SOURCE_ROOT, "daemon"))
                if f.endswith(".c"))))):
            with self.subTest(variable=name):
                self.assertIn("*%s*" % name, man)

    def test_every_config_key(self):
        config_c = read(SOURCE_ROOT, "daemon", "config.c")
        man = read(SOURCE_ROOT, "docs", "llmlab.conf.5.scd")
        example = read(SOURCE_ROOT, "data", "llmlab.conf.example")
        keys = set()
        for block in re.findall(r"known\[\] = \{(.*?)\}", config_c, re.S):
            keys.update(re.findall(r'"([A-Za-z]+)"', block))
        self.assertGreaterEqual(keys, {"MaxRunsPerUser", "SampleIntervalMs", "Region", "TextfilePath", "Kind", "Url",
                                       "ApiKey"})
        for key in sorted(keys):
            with self.subTest(key=key):
                self.assertIn("*%s=*" % key, man)
                self.assertIn(key + "=", example)
        for section in ("Daemon", "Energy", "Carbon", "Metrics", "Backend ID"):
            self.assertIn("# [%s]" % section, man)

    def test_dbus_page_has_every_member_and_error(self):
        if not BUILD_ROOT:
            self.skipTest("LLMLAB_BUILD_ROOT is not set")
        page = read(BUILD_ROOT, "docs", "org.llmlab.Lab1.5.scd")
        for xml in ("org.llmlab.Lab1.Manager.xml", "org.llmlab.Lab1.Run.xml", "org.llmlab.Lab1.Job.xml"):
            iface = ET.parse(os.path.join(SOURCE_ROOT, "dbus", xml)).getroot().find("interface")
            self.assertIn("## %s" % iface.get("name"), page)
            for member in iface:
                with self.subTest(interface=iface.get("name"), member=member.get("name")):
                    self.assertRegex(page, r"(?m)^\*%s\*[ (]" % re.escape(member.get("name")))
        errors = re.search(r"typedef enum LabErrorCode \{(.*?)\}", read(SOURCE_ROOT, "common", "lab-error.h"),
                           re.S).group(1)
        for code in re.findall(r"(?m)^\s*LAB_ERROR_([A-Z_]+),", errors):
            name = "".join(w.capitalize() for w in code.split("_"))
            with self.subTest(error=name):
                self.assertIn("*org.llmlab.Lab1.Error.%s*" % name, page)


class RenderTest(unittest.TestCase):
    def test_pages_render_without_warnings(self):
        if not BUILD_ROOT:
            self.skipTest("LLMLAB_BUILD_ROOT is not set")
        pages = [os.path.join(BUILD_ROOT, "client", "ctl", "llmlabctl.1")]
        pages += [os.path.join(BUILD_ROOT, "docs", p) for p in ("llmlabd.8", "llmlab.conf.5", "org.llmlab.Lab1.5")]
        for page in pages:
            with self.subTest(page=os.path.basename(page)):
                self.assertTrue(os.path.exists(page), "%s is not built (scdoc missing?)" % page)
                proc = subprocess.run(["groff", "-k", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                                      text=True, timeout=30)
                self.assertEqual((proc.returncode, proc.stderr), (0, ""))
                out = subprocess.run(["man", "-l", page], capture_output=True, text=True, timeout=30,
                                     env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")).stdout
                self.assertIn("NAME", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
