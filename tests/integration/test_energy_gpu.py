#!/usr/bin/python3
"""Energy beyond the CPU (issue 9): NVIDIA GPUs through NVML (the fake libnvidia-ml.so.1 built from
tests/fixtures/fake-nvml.c), AMD/Intel GPUs through hwmon, a battery through power_supply, all driven
by the power simulator, against the real llmlabd.

Per-component and total energies are checked against the simulator's truth within 1 % or 1 mWh,
whichever is larger; the truth window is the fake server's [request arrival, final object], which
differs from the daemon's [request sent, final chunk received] by the loopback latency only.
"""

import os
import subprocess
import unittest

import labtest
from labtest import LabTestCase, Script, lab_options

MODEL = "qwen3:0.6b"
TOLERANCE_REL = 0.01
TOLERANCE_WH = 0.001

# GPUs: an NVIDIA with an energy counter (3 × the CPU components' power, our process on it), an
# NVIDIA without one (power integrated, two processes), an AMD dGPU (power1_average) and an Intel xe
# (energy1_input). A battery sees everything.
GPUS = [
    {"kind": "nvml", "share": 3, "name": "NVIDIA Fake A100", "uuid": "GPU-11111111-2222-3333-4444-555555555555",
     "power_limit_w": 400, "processes": [(os.getpid(), 512 * 2**20)]},
    {"kind": "nvml", "share": 1, "counter": False, "processes": [(os.getpid(), None), (1, 2**20)]},
    {"kind": "amdgpu", "share": 2},
    {"kind": "xe", "share": 1},
]
MACHINE = {"layout": "intel-client", "gpus": GPUS, "battery": {}}

# load 300 ms, prefill 400 ms, decode 60 tokens at 25 ms: about 2.2 s in all.
RUN_SCRIPT = Script(tokens=60, load_ms=300, prefill_ms=400, token_interval_ms=25)


def fake_nvml_path(build_root, variant=""):
    return os.path.join(build_root, "tests", "unit", "libnvidia-ml%s.so.1" % variant)


class GpuEnergyCase(LabTestCase):
    """A simulated machine with GPUs and a battery; the daemon loads the fake NVML library."""

    powersim = MACHINE
    scenario = RUN_SCRIPT
    nvml_library = "fake"  # "fake", "noenergy", None (not set), or a path

    def daemon_env(self, extra=None):
        env = super().daemon_env()
        if self.nvml_library == "fake":
            env["LLMLAB_NVML_LIBRARY"] = fake_nvml_path(self.build_root)
        elif self.nvml_library == "noenergy":
            env["LLMLAB_NVML_LIBRARY"] = fake_nvml_path(self.build_root, "-noenergy")
        elif self.nvml_library is not None:
            env["LLMLAB_NVML_LIBRARY"] = self.nvml_library
        else:
            env.pop("LLMLAB_NVML_LIBRARY", None)
        env.update(extra or {})
        return env

    def sources(self):
        return {s["id"]: s for s in self.get_property(labtest.MANAGER_PATH, labtest.MANAGER_IFACE,
                                                       "EnergySources")}

    def live_run(self):
        self.run_path = self.start_run({"model": MODEL, "user_prompt": "hi", "measure": "live"})
        result, metrics, _ = self.wait_run(self.run_path)
        self.assertEqual(result, "done", metrics)
        chat = self.server.wait_chats(1)[0]
        return metrics["energy"], chat.request.arrival_ns, chat.final_ns

    def truth_wh(self, t0, t1, zones):
        return self.sim.energy_j(t0, t1, zones) / 3600.0

    def sampling_bound_wh(self, zone, t0, t1):
        """What integrating a power reading cannot know: at every change of the simulated power
        within [t0, t1], the trapezoid over the daemon's sample interval around it may be off by up to
        |ΔP| × (interval + the sensor's refresh) / 2. Usually a few mJ; more when the daemon could
        not sample on time (a loaded machine)."""
        samples, _ = self.call(self.run_path, labtest.RUN_IFACE, "GetPowerTimeline", None, "(a(tt)a(stt))")
        times = [t0 + t for t, _ in samples]
        z = self.sim.zone(zone)
        refresh_ns = getattr(z, "refresh_ms", 0) * 1e6
        bound_j = 0.0
        log = self.sim.phase_log
        for (_, before), (t, after) in zip(log, log[1:]):
            if not t0 < t < t1:
                continue
            prev = max([x for x in times if x <= t], default=t0)
            nxt = min([x for x in times if x > t], default=t1)
            delta_w = abs(self.sim.power_w(after) - self.sim.power_w(before)) * float(z.share)
            bound_j += delta_w * ((nxt - prev) + refresh_ns) / 2e9
        return bound_j / 3600.0

    def assertEnergy(self, measured, truth, what, extra_wh=0.0):
        tolerance = max(TOLERANCE_REL * abs(truth), TOLERANCE_WH) + extra_wh
        self.assertTrue(abs(measured - truth) <= tolerance,
                        "%s: measured %.6f Wh, truth %.6f Wh (tolerance %.6f Wh)" % (what, measured, truth, tolerance))


class GpuSourcesTest(GpuEnergyCase):
    def test_every_source_with_kind_resolution_and_state(self):
        src = self.sources()
        self.assertEqual(sorted(k for k in src if not k.startswith("rapl:")),
                         ["battery:BAT0", "hwmon:gpu-0", "hwmon:gpu-1", "nvml:gpu-0", "nvml:gpu-1"])
        for s in src.values():
            self.assertEqual(s["state"], "available", s)
            self.assertTrue(s["available"], s)

        g0 = src["nvml:gpu-0"]
        self.assertEqual((g0["source"], g0["kind"], g0["domain"]), ("nvml", "counter", "gpu"))
        self.assertEqual(g0["name"], "NVIDIA Fake A100")
        self.assertEqual(g0["uuid"], "GPU-11111111-2222-3333-4444-555555555555")
        self.assertEqual(g0["power_limit_w"], 400.0)
        self.assertEqual(g0["resolution_uj"], 1000)
        self.assertEqual(g0["refresh_ms"], 100.0)
        self.assertTrue(g0["summed"])
        self.assertFalse(g0["nested"])

        g1 = src["nvml:gpu-1"]
        self.assertEqual(g1["kind"], "integrated-power")
        self.assertEqual(g1["fallback"], "energy counter: Not Supported; power integrated")
        self.assertEqual(g1["resolution_uw"], 1000)

        amd = src["hwmon:gpu-0"]
        self.assertEqual((amd["source"], amd["kind"], amd["driver"], amd["sensor"]),
                         ("hwmon", "integrated-power", "amdgpu", "power1_average"))
        self.assertEqual(amd["pci"], "0000:03:00.0")
        xe = src["hwmon:gpu-1"]
        self.assertEqual((xe["kind"], xe["driver"], xe["sensor"], xe["label"]),
                         ("counter", "xe", "energy1_input", "card"))

        bat = src["battery:BAT0"]
        self.assertEqual((bat["source"], bat["kind"], bat["domain"]), ("battery", "counter", "battery"))
        self.assertFalse(bat["summed"])
        self.assertEqual(bat["resolution_uj"], 3600)

        # The running totals grow from the first idle poll on (about 1 s after start-up).
        def status():
            st = self.manager_call("GetEnergyStatus", None, "(a{sv})")
            return {s["id"]: s for s in st["sources"]}
        self.pump_until(lambda: all(s.get("energy_uj", 0) > 0 for s in status().values()), timeout=10,
                        what="every zone counting")
        for zone, s in status().items():
            self.assertEqual((s["gaps"], s["resets"]), (0, 0), zone)

    def test_llmlabctl_energy_shows_every_source(self):
        ctl = os.path.join(self.build_root, "client", "ctl", "llmlabctl")
        if not os.access(ctl, os.X_OK):
            self.skipTest("llmlabctl is not built")
        out = self.ctl("energy").stdout
        for zone in ("nvml:gpu-0", "nvml:gpu-1", "hwmon:gpu-0", "hwmon:gpu-1", "battery:BAT0"):
            self.assertIn(zone, out)
        self.assertIn("integrated-power", out)


class GpuRunTest(GpuEnergyCase):
    def test_per_component_and_total_against_truth(self):
        energy, t0, t1 = self.live_run()
        self.assertTrue(energy["measured"])
        comps = {c["id"]: c for c in energy["components"]}

        for zone in ("nvml:gpu-0", "nvml:gpu-1", "hwmon:gpu-0", "hwmon:gpu-1"):
            c = comps[zone]
            self.assertTrue(c["available"], c)
            self.assertTrue(c["summed"], c)
            self.assertEqual(c["domain"], "gpu")
            # Integrated power also carries the (known) sampling error at the power steps.
            extra = self.sampling_bound_wh(zone, t0, t1) if c["kind"] == "integrated-power" else 0.0
            self.assertEnergy(c["wh"], self.truth_wh(t0, t1, zone), zone, extra)
            self.assertEnergy(energy["zones"][zone], self.truth_wh(t0, t1, zone), zone + " in zones{}", extra)
        self.assertEnergy(comps["rapl:package-0"]["wh"], self.truth_wh(t0, t1, "intel-rapl:0"), "package-0")
        self.assertFalse(comps["rapl:psys"]["summed"])

        # The total is over the non-overlapping components: packages + GPUs (this layout has no dram).
        total = self.truth_wh(t0, t1, "all")
        extra = sum(self.sampling_bound_wh(z, t0, t1) for z in ("nvml:gpu-1", "hwmon:gpu-0"))
        self.assertEnergy(energy["total_wh"], total, "total_wh", extra)
        self.assertEnergy(energy["components_wh"], total, "components_wh", extra)
        self.assertAlmostEqual(energy["components_wh"], energy["total_wh"], places=9)

        # The battery is the whole system: what the components do not explain is the rest.
        self.assertEqual(energy["system_zone"], "battery:BAT0")
        self.assertEqual(energy["system_covers"], "all")
        battery = self.truth_wh(t0, t1, "battery:BAT0")
        self.assertEnergy(energy["system_wh"], battery, "system_wh")
        self.assertTrue(abs(energy["unexplained_wh"] - (battery - total))
                        <= 2 * max(TOLERANCE_REL * battery, TOLERANCE_WH) + extra,
                        (energy["unexplained_wh"], battery - total))
        self.assertGreater(energy["unexplained_wh"], 0)

        # The counter of gpu-0 was seen refreshing (every 20 ms in the simulator).
        self.assertLess(comps["nvml:gpu-0"]["refresh_ms"], 60)
        self.assertEqual(comps["nvml:gpu-0"]["resolution_uj"], 1000)

    def test_processes_on_the_gpus(self):
        energy, _, _ = self.live_run()
        comps = {c["id"]: c for c in energy["components"]}
        g0 = comps["nvml:gpu-0"]
        self.assertEqual([p["pid"] for p in g0["processes"]], [os.getpid()])
        self.assertEqual(g0["processes"][0]["used_memory_mib"], 512.0)
        with open("/proc/self/comm") as f:
            self.assertEqual(g0["processes"][0]["name"], f.read().strip())
        self.assertFalse(g0["shared"])
        g1 = comps["nvml:gpu-1"]
        self.assertEqual(sorted(p["pid"] for p in g1["processes"]), sorted([os.getpid(), 1]))
        self.assertTrue(g1["shared"])
        self.assertTrue(energy["gpu_shared"])
        self.assertNotIn("processes", comps["hwmon:gpu-0"])

    def test_power_readings_averaged_over_a_second_bound_short_phases(self):
        # NVML power is a 1-s average on Ampere and newer: the 300-ms load and 400-ms prefill of the
        # integrated gpu-1 are bounded estimates; the gpu-0 counter refreshes every 20 ms: not flagged.
        energy, _, _ = self.live_run()
        flagged = {(b["zone"], b["phase"]) for b in energy["bounded_estimates"]}
        self.assertIn(("nvml:gpu-1", "load"), flagged)
        self.assertIn(("nvml:gpu-1", "prefill"), flagged)
        self.assertNotIn(("nvml:gpu-1", "decode"), flagged)
        self.assertFalse([z for z, _ in flagged if z != "nvml:gpu-1"], flagged)
        comps = {c["id"]: c for c in energy["components"]}
        self.assertTrue(comps["nvml:gpu-1"]["bounded"])
        self.assertFalse(comps["nvml:gpu-0"]["bounded"])

    @lab_options(powersim={"layout": "intel-client", "gpus": [{"kind": "nvml", "share": 3, "refresh_ms": 100}]},
                 scenario=Script(tokens=40, load_ms=200, prefill_ms=40, token_interval_ms=25))
    def test_phase_shorter_than_the_counter_refresh(self):
        energy, t0, t1 = self.live_run()
        comps = {c["id"]: c for c in energy["components"]}
        g0 = comps["nvml:gpu-0"]
        self.assertGreaterEqual(g0["refresh_ms"], 80)
        self.assertLessEqual(g0["refresh_ms"], 120)
        flagged = [b for b in energy["bounded_estimates"] if b["zone"] == "nvml:gpu-0"]
        self.assertEqual([b["phase"] for b in flagged], ["prefill"], energy["bounded_estimates"])
        self.assertLess(flagged[0]["duration_ms"], flagged[0]["refresh_ms"])
        # Still within the tolerance over the whole run (change points are interpolated).
        self.assertEnergy(g0["wh"], self.truth_wh(t0, t1, "nvml:gpu-0"), "nvml:gpu-0")

    @lab_options(scenario=Script(tokens=40, load_ms=100, prefill_ms=100, token_interval_ms=25))
    def test_gpu_lost_during_the_run(self):
        path = self.start_run({"model": MODEL, "user_prompt": "hi", "measure": "live"})
        self.pump_until(lambda: any(s.member == "Chunk" and s.path == path for s in self.signals), timeout=20,
                        what="the first chunk")
        self.sim.nvml_set(**{"gpu0.energy": 15})
        result, metrics, _ = self.wait_run(path)
        self.assertEqual(result, "done")
        energy = metrics["energy"]
        comps = {c["id"]: c for c in energy["components"]}
        g0 = comps["nvml:gpu-0"]
        self.assertFalse(g0["available"])
        self.assertEqual(g0["state"], "lost")
        self.assertEqual(g0["reason"], "nvmlDeviceGetTotalEnergyConsumption: GPU is lost")
        self.assertNotIn("wh", g0)
        self.assertTrue(energy.get("incomplete"))
        self.assertEqual(self.sources()["nvml:gpu-0"]["state"], "lost")


class BatteryChargingTest(GpuEnergyCase):
    powersim = {"layout": "intel-client", "gpus": [{"kind": "xe"}], "battery": {"status": "Charging"}}

    def test_battery_on_ac_is_listed_and_psys_is_the_reference(self):
        bat = self.sources()["battery:BAT0"]
        self.assertFalse(bat["available"])
        self.assertEqual(bat["state"], "unavailable")
        self.assertEqual(bat["reason"], "not discharging (status: Charging)")

        energy, t0, t1 = self.live_run()
        comps = {c["id"]: c for c in energy["components"]}
        self.assertFalse(comps["battery:BAT0"]["available"])
        self.assertEqual(comps["battery:BAT0"]["reason"], "not discharging (status: Charging)")
        # psys covers the CPU side, not the discrete GPU.
        self.assertEqual(energy["system_zone"], "rapl:psys")
        self.assertEqual(energy["system_covers"], "cpu")
        psys = self.truth_wh(t0, t1, "intel-rapl:1")
        package = self.truth_wh(t0, t1, "intel-rapl:0")
        self.assertEnergy(energy["system_wh"], psys, "psys")
        self.assertTrue(abs(energy["unexplained_wh"] - (psys - package)) <= 2 * TOLERANCE_WH)
        self.assertEnergy(energy["total_wh"], self.truth_wh(t0, t1, "all"), "total_wh")


class NvmlUnavailableTest(GpuEnergyCase):
    """A missing or broken GPU library degrades to "not available" with a reason; the rest measures."""

    powersim = {"layout": "intel-client", "gpus": [{"kind": "nvml", "share": 2}]}
    autostart_daemon = False

    def check_unavailable(self, reason_start):
        self.start_daemon()
        nv = self.sources()["nvml:gpu"]
        self.assertFalse(nv["available"])
        self.assertEqual((nv["domain"], nv["state"]), ("gpu", "unavailable"))
        self.assertTrue(nv["reason"].startswith(reason_start), nv["reason"])
        energy, t0, t1 = self.live_run()
        comps = {c["id"]: c for c in energy["components"]}
        self.assertFalse(comps["nvml:gpu"]["available"])
        self.assertTrue(comps["nvml:gpu"]["reason"].startswith(reason_start))
        self.assertNotIn("wh", comps["nvml:gpu"])
        # The CPU is still measured; the GPU is simply not in the total.
        self.assertEnergy(energy["total_wh"], self.truth_wh(t0, t1, "components"), "total_wh")

    def test_missing_library(self):
        self.nvml_library = os.path.join(self.tmpdir, "nowhere", "libnvidia-ml.so.1")
        self.check_unavailable("NVML not available: cannot load %s: " % self.nvml_library)

    def test_not_a_library(self):
        self.nvml_library = os.path.join(self.tmpdir, "libnvidia-ml.so.1")
        with open(self.nvml_library, "w") as f:
            f.write("not an ELF file\n")
        self.check_unavailable("NVML not available: cannot load %s: " % self.nvml_library)

    def test_library_without_energy_symbol(self):
        self.nvml_library = "noenergy"
        self.check_unavailable("NVML not available: %s has no nvmlDeviceGetTotalEnergyConsumption"
                               % fake_nvml_path(self.build_root, "-noenergy"))

    def test_driver_not_loaded(self):
        self.sim.nvml_set(init=9)
        self.check_unavailable("NVML not available: nvmlInit_v2: Driver Not Loaded")

    def test_found_through_ld_library_path(self):
        # No LLMLAB_NVML_LIBRARY: the NVIDIA module is "loaded" in the fake tree, and the library is
        # found by its soname.
        self.nvml_library = None
        self.start_daemon(extra_env={"LD_LIBRARY_PATH": os.path.dirname(fake_nvml_path(self.build_root))})
        g0 = self.sources()["nvml:gpu-0"]
        self.assertTrue(g0["available"])
        self.assertEqual(g0["library"], "libnvidia-ml.so.1")

    @lab_options(powersim={"layout": "intel-client"})
    def test_no_nvidia_driver_no_nvml(self):
        self.nvml_library = None
        self.start_daemon()
        self.assertFalse([k for k in self.sources() if k.startswith("nvml")])


class LinkTest(unittest.TestCase):
    """llmlabd must start on machines without NVIDIA's library: no NVML symbol at link time."""

    def test_no_nvml_symbol_required(self):
        build_root = os.environ.get("LLMLAB_BUILD_ROOT")
        if not build_root:
            self.fail("LLMLAB_BUILD_ROOT is not set (run the tests with meson test)")
        binary = os.path.join(build_root, "daemon", "llmlabd")
        undefined = subprocess.run(["nm", "-D", "--undefined-only", binary], capture_output=True, text=True,
                                   check=True).stdout
        self.assertIn("dlopen", undefined)
        self.assertFalse([line for line in undefined.splitlines() if "nvml" in line.lower()], undefined)
        dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
        needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
        self.assertTrue(needed)
        self.assertFalse([line for line in needed if "nvidia" in line], needed)


if __name__ == "__main__":
    labtest.main()
