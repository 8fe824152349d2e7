#!/usr/bin/python3
"""llmlabctl -H [USER@]HOST: driving the llmlabd of another machine over SSH, as systemctl -H does.

sd-bus runs `ssh -xT [-p PORT] -- HOST systemd-stdio-bridge` and speaks D-Bus through it to the
system bus of HOST. Here "HOST" is this machine: a real OpenSSH server on a free loopback port
with a temporary host key, authorized_keys for root (uid 0 is always allowed by llmlabd's polkit
check), and a ForceCommand that records the command the client asked for and runs
systemd-stdio-bridge on the test's private bus, where `llmlabd --system` serves. The client finds
the test's ssh settings through an `ssh` wrapper first in PATH.

StdioBridgeTest covers the same transport without SSH: its `ssh` runs the remote command
locally, which is what sd-bus's unixexec transport needs and works without root.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402
from labtest import LabTestCase, Script  # noqa: E402

MODEL = "qwen3:0.6b"
SSHD = "/usr/sbin/sshd"
BRIDGE = shutil.which("systemd-stdio-bridge") or "/usr/bin/systemd-stdio-bridge"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class RemoteCase(LabTestCase):
    daemon_args = ["--system", "-v"]
    scenario = Script(tokens=["Hello", " from", " afar", "."], token_interval_ms=5)

    def setUp(self):
        super().setUp()
        self.remote_dir = self._mkdir("remote")
        self.bin_dir = self._mkdir("bin")
        self.commands = os.path.join(self.remote_dir, "commands")

    def bridge_script(self):
        """The remote side: record what the client asked for, then bridge to the test's bus."""
        path = os.path.join(self.remote_dir, "bridge")
        write_script(path, "#!/bin/sh\n"
                           "printf '%%s\\n' \"${SSH_ORIGINAL_COMMAND:-$*}\" >> %s\n"
                           "exec %s --bus-path='%s'\n" % (self.commands, BRIDGE, self.bus_address))
        return path

    def remote_ctl(self, host, *args, check=True, timeout=60):
        argv = [os.path.join(self.build_root, "client", "ctl", "llmlabctl"), "-H", host] + [str(a) for a in args]
        env = dict(self.client_env())
        for var in ("DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS"):
            env.pop(var)  # nothing local: everything goes through ssh
        env["PATH"] = self.bin_dir + ":" + env.get("PATH", "/usr/bin:/bin")
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                              timeout=timeout * self.timeout_multiplier)
        if check and proc.returncode != 0:
            self.fail("%s exited with %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(argv), proc.returncode, proc.stdout,
                                                                       proc.stderr))
        return proc

    def recorded_commands(self):
        with open(self.commands) as f:
            return f.read().splitlines()

    # The same checks over both transports.

    def check_status_and_run(self, host):
        status = json.loads(self.remote_ctl(host, "--json=short", "status").stdout)
        self.assertEqual(status["version"], self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE, "Version"))
        self.assertEqual([b["url"] for b in status["backends"]], [self.server.url])
        self.assertEqual(self.recorded_commands(), ["systemd-stdio-bridge"])

        # Streaming: the unicast Chunk signals come through the bridge.
        proc = self.remote_ctl(host, "run", "-m", MODEL, "-p", "Greetings", "-q")
        self.assertEqual(proc.stdout, "Hello from afar.")
        runs = self.pump_until(lambda: [s.args[0] for s in self.signals if s.member == "RunNew"], 10, "RunNew")
        self.assertEqual(len(runs), 1)
        # The run belongs to root, the user the bridge logged in as.
        self.assertEqual(self.get_property(runs[0], labtest.RUN_IFACE, "Owner"), 0)

        # A job: Progress and Finished through the bridge too.
        out = json.loads(self.remote_ctl(host, "--json=short", "batch", "-m", MODEL, "-p", "Again", "--runs", "2",
                                         "--warmup", "0", "--idle-ms", "0", "--measure=estimate").stdout)
        self.assertEqual((out["state"], out["summary"]["n"]), ("done", 2))
        self.assertEqual(len(self.recorded_commands()), 3)


class SshTest(RemoteCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("an sshd that accepts a login needs root (StdioBridgeTest covers the transport)")
        if not os.access(SSHD, os.X_OK):
            self.fail("%s is missing (Debian: openssh-server)" % SSHD)
        self.port = free_port()
        self.start_sshd()
        self.write_ssh_client()

    def keygen(self, name):
        path = os.path.join(self.remote_dir, name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], check=True)
        return path

    def start_sshd(self):
        host_key = self.keygen("host_key")
        self.client_key = self.keygen("client_key")
        authorized = os.path.join(self.remote_dir, "authorized_keys")
        shutil.copy(self.client_key + ".pub", authorized)
        config = os.path.join(self.remote_dir, "sshd_config")
        with open(config, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n"
                    "ForceCommand %s\nLogLevel VERBOSE\n"
                    % (self.port, host_key, authorized, self.bridge_script()))
        # sshd refuses to start without its privilege separation directory (the package's unit
        # creates it with RuntimeDirectory=sshd).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.sshd_log = open(os.path.join(self.remote_dir, "sshd.log"), "wb")
        self.addCleanup(self.sshd_log.close)
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=self.sshd_log, stderr=subprocess.STDOUT)
        self.addCleanup(self._stop_process, self.sshd, "sshd")
        deadline = time.monotonic() + 10 * self.timeout_multiplier
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.sshd.poll() is not None or time.monotonic() > deadline:
                    with open(self.sshd_log.name, "rb") as f:
                        self.fail("sshd did not start: %s" % f.read().decode(errors="replace"))
                time.sleep(0.05)

    def write_ssh_client(self):
        config = os.path.join(self.remote_dir, "ssh_config")
        with open(config, "w") as f:
            f.write("Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n"
                    "  StrictHostKeyChecking no\n  BatchMode yes\n  LogLevel ERROR\n" % self.client_key)
        write_script(os.path.join(self.bin_dir, "ssh"), "#!/bin/sh\nexec /usr/bin/ssh -F %s \"$@\"\n" % config)

    def test_status_run_and_batch_over_ssh(self):
        self.check_status_and_run("root@127.0.0.1:%d" % self.port)
        with open(self.sshd_log.name, "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertIn("Accepted publickey for root", log)

    def test_unreachable_host(self):
        # A port bound but not listening refuses connections, and no other test can take it meanwhile.
        closed = socket.socket()
        self.addCleanup(closed.close)
        closed.bind(("127.0.0.1", 0))
        proc = self.remote_ctl("root@127.0.0.1:%d" % closed.getsockname()[1], "status", check=False)
        self.assertEqual(proc.returncode, 1)
        lines = [line for line in proc.stderr.splitlines() if line.startswith("llmlabctl:")]
        self.assertRegex(lines[0], r"^llmlabctl: Failed to get the daemon's status: .+")
        self.assertEqual(lines[1], "llmlabctl: Can 'ssh HOST' log in without a password prompt, and does the host "
                                   "have systemd-stdio-bridge and a running llmlabd?")

    def test_user_bus_is_refused(self):
        proc = self.remote_ctl("root@127.0.0.1:%d" % self.port, "--user", "status", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr, "llmlabctl: --user cannot be combined with -H: llmlabd on another host is "
                                      "reached on its system bus.\n")
        self.assertFalse(os.path.exists(self.commands))


class StdioBridgeTest(RemoteCase):
    """The transport without SSH: `ssh -xT [-p PORT] -- HOST CMD…` runs CMD here."""

    def setUp(self):
        super().setUp()
        self.args_log = os.path.join(self.remote_dir, "ssh-args")
        write_script(os.path.join(self.bin_dir, "ssh"),
                     "#!/bin/sh\n"
                     "printf '%%s\\n' \"$*\" >> %s\n"
                     "while [ \"$1\" != -- ]; do shift; done\n"
                     "shift 2\n"
                     "exec %s \"$@\"\n" % (self.args_log, self.bridge_script()))

    def test_status_run_and_batch_through_the_bridge(self):
        self.check_status_and_run("lab@gpu-host-1:2222")
        with open(self.args_log) as f:
            self.assertEqual(f.read().splitlines(), ["-xT -p 2222 -- lab@gpu-host-1 systemd-stdio-bridge"] * 3)


if __name__ == "__main__":
    labtest.main()
