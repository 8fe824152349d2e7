/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Energy beyond the CPU: GPUs through hwmon (amdgpu, i915, xe), batteries through power_supply, NVIDIA
 * GPUs through NVML (a fake libnvidia-ml.so.1 built from tests/fixtures/fake-nvml.c, whose path meson
 * passes in LLMLAB_TEST_FAKE_NVML), and the per-component view of a recording. Fake sysfs trees are
 * built in temporary directories; time is driven through the monitor's clock seam. */

#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>

#include "energy-components.h"
#include "energy-monitor.h"

#include <glib.h>

#define MS  (1000000ULL)
#define SEC (1000000000ULL)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EnergySource, energy_source_free)

/* ---- fake trees ------------------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(text);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, n), ==, (ssize_t) n);
        g_assert_cmpint(close(fd), ==, 0);
}

static void write_attr(const char *dir, const char *attr, const char *text) {
        g_autofree char *p = g_build_filename(dir, attr, NULL);
        g_autofree char *line = g_strconcat(text, "\n", NULL);

        write_text(p, line);
}

static void write_attr_u64(const char *dir, const char *attr, uint64_t v) {
        g_autofree char *s = g_strdup_printf("%" G_GUINT64_FORMAT, v);

        write_attr(dir, attr, s);
}

static char *tmp_root(void) {
        g_autoptr(GError) error = NULL;
        char *root = g_dir_make_tmp("llmlab-gpu-XXXXXX", &error);

        g_assert_no_error(error);
        return root;
}

static void rm_rf(char *root) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);

        g_assert_cmpint(system(cmd), ==, 0);
        g_free(root);
}

static void mkdir_p(const char *dir) {
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
}

/* An hwmon device as the kernel lays it out: the hwmon directory below its PCI device, a class link
 * to it, and a "device" link back up. @pci NULL: a platform sensor without a device link. Returns the
 * hwmon directory. */
static char *hwmon_device(const char *root, const char *pci, const char *hwmon, const char *driver) {
        g_autofree char *class_dir = g_build_filename(root, "class/hwmon", NULL);
        g_autofree char *link = g_build_filename(class_dir, hwmon, NULL);
        g_autofree char *rel = pci ? g_build_filename("devices/pci0000:00", pci, "hwmon", hwmon, NULL)
                                   : g_build_filename("devices/virtual/hwmon", hwmon, NULL);
        g_autofree char *target = g_build_filename("../..", rel, NULL);
        char *dir = g_build_filename(root, rel, NULL);

        mkdir_p(dir);
        mkdir_p(class_dir);
        g_assert_cmpint(symlink(target, link), ==, 0);
        if (pci) {
                g_autofree char *dev = g_build_filename(dir, "device", NULL);

                g_assert_cmpint(symlink("../..", dev), ==, 0);
        }
        write_attr(dir, "name", driver);
        return dir;
}

static char *power_supply(const char *root, const char *name, const char *type) {
        g_autofree char *class_dir = g_build_filename(root, "class/power_supply", NULL);
        g_autofree char *link = g_build_filename(class_dir, name, NULL);
        g_autofree char *rel = g_build_filename("devices/platform/power", name, NULL);
        g_autofree char *target = g_build_filename("../..", rel, NULL);
        char *dir = g_build_filename(root, rel, NULL);

        mkdir_p(dir);
        mkdir_p(class_dir);
        g_assert_cmpint(symlink(target, link), ==, 0);
        write_attr(dir, "type", type);
        return dir;
}

static EnergySource *probe(const EnergySourceOps *ops, const char *root, int expected) {
        EnergySource *s = NULL;

        g_assert_cmpint(energy_source_new(ops, &s), ==, 0);
        g_assert_cmpint(energy_source_probe(s, root), ==, expected);
        g_assert_cmpuint(s->n_zones, ==, (size_t) expected);
        return s;
}

static const char *info_string(const EnergyZone *z, const char *key) {
        return json_string_value(json_object_get(z->info, key));
}

/* ---- hwmon ------------------------------------------------------------------------------------------ */

static void test_hwmon_discovery(void) {
        char *root = tmp_root();
        g_autofree char *amd = hwmon_device(root, "0000:0c:00.0", "hwmon0", "amdgpu");
        g_autofree char *cpu = hwmon_device(root, NULL, "hwmon1", "coretemp");
        g_autofree char *xe = hwmon_device(root, "0000:03:00.0", "hwmon2", "xe");
        g_autofree char *apu = hwmon_device(root, "0000:e5:00.0", "hwmon3", "amdgpu");
        g_autofree char *bare = hwmon_device(root, "0000:00:02.0", "hwmon4", "i915");
        g_autofree char *bad = hwmon_device(root, "0000:04:00.0", "hwmon5", "i915");
        g_autofree char *bad_attr = g_build_filename(bad, "energy1_input", NULL);
        g_autoptr(EnergySource) s = NULL;
        EnergyReading rd[5];

        write_attr_u64(amd, "power1_average", 30000000);
        write_attr_u64(amd, "power1_input", 29000000);
        write_attr(amd, "power1_label", "PPT");
        write_attr_u64(cpu, "temp1_input", 45000);
        write_attr_u64(xe, "energy1_input", 111);
        write_attr(xe, "energy1_label", "pkg");
        write_attr_u64(xe, "energy2_input", 222);
        write_attr(xe, "energy2_label", "card");
        write_attr_u64(apu, "power1_average", 15000000);
        write_attr(apu, "power1_label", "slowPPT");
        mkdir_p(bad_attr);

        s = probe(&energy_hwmon_ops, root, 5);

        /* In PCI address order. */
        g_assert_cmpstr(s->zones[0]->id, ==, "hwmon:gpu-0");
        g_assert_cmpstr(s->zones[0]->name, ==, "i915 0000:00:02.0");
        g_assert_false(s->zones[0]->available);
        g_assert_cmpstr(s->zones[0]->reason, ==, "no energy or power sensor in hwmon4");
        g_assert_true(s->zones[0]->summed);

        g_assert_cmpstr(s->zones[1]->id, ==, "hwmon:gpu-1");
        g_assert_cmpstr(s->zones[1]->name, ==, "xe 0000:03:00.0");
        g_assert_true(s->zones[1]->available);
        g_assert_cmpint(s->zones[1]->kind, ==, ENERGY_ZONE_COUNTER);
        g_assert_cmpint(s->zones[1]->domain, ==, ENERGY_DOMAIN_GPU);
        g_assert_cmpint(s->zones[1]->device, ==, 1);
        g_assert_true(s->zones[1]->summed);
        g_assert_cmpuint(s->zones[1]->max_range_uj, ==, 0);
        g_assert_cmpstr(info_string(s->zones[1], "sensor"), ==, "energy2_input");
        g_assert_cmpstr(info_string(s->zones[1], "label"), ==, "card");
        g_assert_cmpstr(info_string(s->zones[1], "driver"), ==, "xe");
        g_assert_cmpstr(info_string(s->zones[1], "pci"), ==, "0000:03:00.0");
        g_assert_null(json_object_get(s->zones[1]->info, "fallback"));

        g_assert_cmpstr(s->zones[2]->id, ==, "hwmon:gpu-2");
        g_assert_false(s->zones[2]->available);
        g_assert_cmpstr(s->zones[2]->reason, ==, "unreadable: Is a directory");

        g_assert_cmpstr(s->zones[3]->id, ==, "hwmon:gpu-3");
        g_assert_cmpstr(s->zones[3]->name, ==, "amdgpu 0000:0c:00.0");
        g_assert_true(s->zones[3]->available);
        g_assert_cmpint(s->zones[3]->kind, ==, ENERGY_ZONE_INTEGRATED_POWER);
        g_assert_true(s->zones[3]->summed);
        g_assert_cmpstr(info_string(s->zones[3], "sensor"), ==, "power1_average");
        g_assert_cmpstr(info_string(s->zones[3], "fallback"), ==, "no energy counter; power integrated");

        /* An APU's sensor measures the SoC, package included: not summed. */
        g_assert_cmpstr(s->zones[4]->id, ==, "hwmon:gpu-4");
        g_assert_true(s->zones[4]->available);
        g_assert_false(s->zones[4]->summed);
        g_assert_cmpstr(info_string(s->zones[4], "overlaps"), ==, "cpu package (APU)");

        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, -ENODEV);
        g_assert_cmpint(rd[1].error, ==, 0);
        g_assert_cmpuint(rd[1].value, ==, 222);
        g_assert_cmpint(rd[2].error, ==, -ENODEV);
        g_assert_cmpuint(rd[3].value, ==, 30000000);
        g_assert_cmpuint(rd[4].value, ==, 15000000);

        /* Values are re-read from the open attribute. */
        write_attr_u64(xe, "energy2_input", 5000222);
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[1].value, ==, 5000222);

        /* power1_input when there is no average. */
        {
                g_autofree char *p = g_build_filename(amd, "power1_average", NULL);
                g_autoptr(EnergySource) s2 = NULL;

                g_assert_cmpint(unlink(p), ==, 0);
                s2 = probe(&energy_hwmon_ops, root, 5);
                g_assert_cmpstr(info_string(s2->zones[3], "sensor"), ==, "power1_input");
        }
        rm_rf(root);
}

static void test_hwmon_none(void) {
        char *root = tmp_root();
        g_autoptr(EnergySource) s = probe(&energy_hwmon_ops, root, 0);

        rm_rf(root);
}

/* ---- batteries ---------------------------------------------------------------------------------------- */

#define BATTERY_BASE_UWH (UINT64_C(1) << 32)

static void test_battery(void) {
        char *root = tmp_root();
        g_autofree char *ac = power_supply(root, "AC", "Mains");
        g_autofree char *bat0 = power_supply(root, "BAT0", "Battery");
        g_autofree char *bat1 = power_supply(root, "BAT1", "Battery");
        g_autofree char *bat2 = power_supply(root, "BAT2", "Battery");
        g_autofree char *bat3 = power_supply(root, "BAT3", "Battery");
        g_autofree char *mouse = power_supply(root, "hidpp_battery_0", "Battery");
        g_autoptr(EnergySource) s = NULL;
        EnergyReading rd[3];

        write_attr(ac, "online", "0");
        write_attr(bat0, "status", "Discharging");
        write_attr(bat0, "model_name", "5B10W13930");
        write_attr_u64(bat0, "energy_now", 40000000);
        write_attr_u64(bat0, "power_now", 12000000);
        write_attr(bat1, "status", "Charging");
        write_attr_u64(bat1, "energy_now", 20000000);
        write_attr(bat2, "status", "Discharging");
        write_attr_u64(bat2, "power_now", 7000000);
        write_attr(bat3, "present", "0");
        write_attr(bat3, "status", "Discharging");
        write_attr_u64(bat3, "energy_now", 1);
        write_attr(mouse, "scope", "Device");
        write_attr(mouse, "status", "Discharging");
        write_attr_u64(mouse, "energy_now", 1);

        s = probe(&energy_battery_ops, root, 3);

        g_assert_cmpstr(s->zones[0]->id, ==, "battery:BAT0");
        g_assert_cmpstr(s->zones[0]->name, ==, "BAT0 (5B10W13930)");
        g_assert_true(s->zones[0]->available);
        g_assert_false(s->zones[0]->summed);
        g_assert_cmpint(s->zones[0]->domain, ==, ENERGY_DOMAIN_BATTERY);
        g_assert_cmpint(s->zones[0]->kind, ==, ENERGY_ZONE_COUNTER);
        g_assert_cmpuint(s->zones[0]->resolution, ==, 3600);
        g_assert_true(g_str_has_suffix(s->zones[0]->path, "/energy_now"));

        g_assert_cmpstr(s->zones[1]->id, ==, "battery:BAT1");
        g_assert_false(s->zones[1]->available);
        g_assert_cmpstr(s->zones[1]->reason, ==, "not discharging (status: Charging)");

        g_assert_cmpstr(s->zones[2]->id, ==, "battery:BAT2");
        g_assert_true(s->zones[2]->available);
        g_assert_cmpint(s->zones[2]->kind, ==, ENERGY_ZONE_INTEGRATED_POWER);
        g_assert_cmpstr(info_string(s->zones[2], "fallback"), ==, "no energy_now; power_now integrated");

        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, 0);
        g_assert_cmpuint(rd[0].value, ==, (BATTERY_BASE_UWH - 40000000) * 3600);
        g_assert_cmpint(rd[1].error, ==, -ENODEV);
        g_assert_cmpuint(rd[2].value, ==, 7000000);

        /* Draining 1000 µWh is 3.6 J more on the counter. */
        write_attr_u64(bat0, "energy_now", 39999000);
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[0].value, ==, (BATTERY_BASE_UWH - 40000000) * 3600 + 3600000);

        /* Plugged in: the zone cannot be read any more, and says why. */
        write_attr(bat0, "status", "Charging");
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, -EAGAIN);
        g_assert_cmpstr(rd[0].reason, ==, "no longer discharging (status: Charging)");
        g_assert_cmpint(rd[2].error, ==, 0);

        rm_rf(root);
}

/* ---- NVML ------------------------------------------------------------------------------------------- */

static const char *fake_nvml(void) {
        const char *p = g_getenv("LLMLAB_TEST_FAKE_NVML");

        g_assert_nonnull(p);
        return p;
}

/* A state directory for the fake library with @config, and the GPU state files. */
static char *nvml_state(const char *root, const char *config) {
        char *dir = g_build_filename(root, "fake-nvml", NULL);

        mkdir_p(dir);
        write_attr(dir, "config", config);
        g_setenv("LLMLAB_FAKE_NVML_DIR", dir, true);
        return dir;
}

static char *read_file(const char *dir, const char *name) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        char *text = NULL;

        if (!g_file_get_contents(p, &text, NULL, NULL))
                return g_strdup("");
        return text;
}

static void test_nvml_devices(void) {
        char *root = tmp_root();
        g_autofree char *state = nvml_state(root, "count=3\n"
                                                  "gpu0.name=NVIDIA Fake A100\n"
                                                  "gpu0.uuid=GPU-1234\n"
                                                  "gpu0.power_limit_mw=300000\n"
                                                  "gpu0.processes=4242:1048576,77:-\n"
                                                  "gpu1.energy=3\n"
                                                  "gpu2.handle=15");
        g_autofree char *calls = NULL;
        EnergySource *s;
        EnergyProcess *procs = NULL;
        EnergyReading rd[3];

        write_attr(state, "gpu0", "123456 150000");
        write_attr(state, "gpu1", "0 80000");
        g_setenv("LLMLAB_NVML_LIBRARY", fake_nvml(), true);

        s = probe(&energy_nvml_ops, root, 3);

        g_assert_cmpstr(s->zones[0]->id, ==, "nvml:gpu-0");
        g_assert_cmpstr(s->zones[0]->name, ==, "NVIDIA Fake A100");
        g_assert_true(s->zones[0]->available);
        g_assert_true(s->zones[0]->summed);
        g_assert_cmpint(s->zones[0]->domain, ==, ENERGY_DOMAIN_GPU);
        g_assert_cmpint(s->zones[0]->kind, ==, ENERGY_ZONE_COUNTER);
        g_assert_cmpint(s->zones[0]->device, ==, 0);
        g_assert_cmpuint(s->zones[0]->resolution, ==, 1000);
        g_assert_cmpuint(s->zones[0]->refresh_ns, ==, 100 * MS);
        g_assert_cmpuint(s->zones[0]->max_range_uj, ==, 0);
        g_assert_cmpstr(info_string(s->zones[0], "uuid"), ==, "GPU-1234");
        g_assert_cmpfloat(json_real_value(json_object_get(s->zones[0]->info, "power_limit_w")), ==, 300.0);
        g_assert_cmpint(json_integer_value(json_object_get(s->zones[0]->info, "index")), ==, 0);
        g_assert_null(json_object_get(s->zones[0]->info, "fallback"));

        /* Energy counter not supported: power is integrated, and the zone says so. */
        g_assert_cmpstr(s->zones[1]->id, ==, "nvml:gpu-1");
        g_assert_cmpstr(s->zones[1]->name, ==, "NVIDIA Fake GPU");
        g_assert_true(s->zones[1]->available);
        g_assert_cmpint(s->zones[1]->kind, ==, ENERGY_ZONE_INTEGRATED_POWER);
        g_assert_cmpuint(s->zones[1]->refresh_ns, ==, 1 * SEC);
        g_assert_cmpstr(info_string(s->zones[1], "fallback"), ==,
                        "energy counter: Not Supported; power integrated");
        g_assert_cmpstr(info_string(s->zones[1], "uuid"), ==, "GPU-00000000-0000-0000-0000-000000000001");

        g_assert_cmpstr(s->zones[2]->id, ==, "nvml:gpu-2");
        g_assert_false(s->zones[2]->available);
        g_assert_cmpstr(s->zones[2]->reason, ==, "nvmlDeviceGetHandleByIndex_v2: GPU is lost");

        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, 0);
        g_assert_cmpuint(rd[0].value, ==, 123456000); /* mJ → µJ */
        g_assert_cmpint(rd[1].error, ==, 0);
        g_assert_cmpuint(rd[1].value, ==, 80000000); /* mW → µW */
        g_assert_cmpint(rd[2].error, ==, -ENODEV);

        /* Processes, with and without their memory. */
        g_assert_cmpint(energy_source_processes(s, 0, &procs), ==, 2);
        g_assert_cmpuint(procs[0].pid, ==, 4242);
        g_assert_cmpuint(procs[0].used_memory_bytes, ==, 1048576);
        g_assert_cmpuint(procs[1].pid, ==, 77);
        g_assert_cmpuint(procs[1].used_memory_bytes, ==, UINT64_MAX);
        g_free(procs);
        procs = NULL;
        g_assert_cmpint(energy_source_processes(s, 1, &procs), ==, 0);
        g_assert_null(procs);

        /* The GPU falls off the bus: the read fails with NVML's reason. */
        write_attr(state, "config", "count=3\ngpu0.energy=15\ngpu1.power=4\n");
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, -ENODEV);
        g_assert_cmpstr(rd[0].reason, ==, "nvmlDeviceGetTotalEnergyConsumption: GPU is lost");
        g_assert_cmpint(rd[1].error, ==, -EACCES);
        g_assert_cmpstr(rd[1].reason, ==, "nvmlDeviceGetPowerUsage: Insufficient Permissions");

        /* Shut down once, when the source goes. */
        energy_source_free(s);
        calls = read_file(state, "calls");
        g_assert_cmpstr(calls, ==, "init\nshutdown\n");

        g_unsetenv("LLMLAB_NVML_LIBRARY");
        g_unsetenv("LLMLAB_FAKE_NVML_DIR");
        rm_rf(root);
}

/* The one "nvml:gpu" zone that says why NVML cannot be used. */
static void assert_nvml_failure(const char *root, const char *reason_prefix) {
        g_autoptr(EnergySource) s = probe(&energy_nvml_ops, root, 1);

        g_assert_cmpstr(s->zones[0]->id, ==, "nvml:gpu");
        g_assert_cmpint(s->zones[0]->domain, ==, ENERGY_DOMAIN_GPU);
        g_assert_false(s->zones[0]->available);
        if (!g_str_has_prefix(s->zones[0]->reason, reason_prefix))
                g_error("reason \"%s\" does not start with \"%s\"", s->zones[0]->reason, reason_prefix);
}

static void test_nvml_failures(void) {
        char *root = tmp_root();
        g_autofree char *state = NULL, *missing = g_build_filename(root, "nowhere/libnvidia-ml.so.1", NULL);
        g_autofree char *garbage = g_build_filename(root, "garbage.so.1", NULL);
        g_autofree char *module = g_build_filename(root, "module/nvidia", NULL);
        g_autofree char *expected = NULL;
        g_autoptr(EnergySource) none = NULL, off = NULL;
        void *real;

        /* Not asked for and no NVIDIA module: not even tried. */
        g_unsetenv("LLMLAB_NVML_LIBRARY");
        none = probe(&energy_nvml_ops, root, 0);

        /* The module is there: the default soname is tried. Under meson, LD_LIBRARY_PATH finds the fake
         * library (without a state directory: no driver); elsewhere there is no library at all. */
        mkdir_p(module);
        real = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (real) {
                dlclose(real);
                assert_nvml_failure(root, "NVML not available: nvmlInit_v2: Driver Not Loaded");
        } else
                assert_nvml_failure(root, "NVML not available: cannot load libnvidia-ml.so.1: ");

        /* Turned off. */
        g_setenv("LLMLAB_NVML_LIBRARY", "", true);
        off = probe(&energy_nvml_ops, root, 0);

        /* A library that is missing, not a library, or lacks a symbol. */
        g_setenv("LLMLAB_NVML_LIBRARY", missing, true);
        expected = g_strdup_printf("NVML not available: cannot load %s: ", missing);
        assert_nvml_failure(root, expected);
        g_clear_pointer(&expected, g_free);

        write_text(garbage, "this is not an ELF file\n");
        g_setenv("LLMLAB_NVML_LIBRARY", garbage, true);
        expected = g_strdup_printf("NVML not available: cannot load %s: ", garbage);
        assert_nvml_failure(root, expected);
        g_clear_pointer(&expected, g_free);

        g_setenv("LLMLAB_NVML_LIBRARY", g_getenv("LLMLAB_TEST_FAKE_NVML_NOENERGY"), true);
        expected = g_strdup_printf("NVML not available: %s has no nvmlDeviceGetTotalEnergyConsumption",
                                   g_getenv("LLMLAB_TEST_FAKE_NVML_NOENERGY"));
        assert_nvml_failure(root, expected);

        /* The library loads, the driver does not answer. */
        g_setenv("LLMLAB_NVML_LIBRARY", fake_nvml(), true);
        g_setenv("LLMLAB_FAKE_NVML_DIR", root, true); /* no config: no driver */
        assert_nvml_failure(root, "NVML not available: nvmlInit_v2: Driver Not Loaded");

        state = nvml_state(root, "init=9\ncount=1");
        assert_nvml_failure(root, "NVML not available: nvmlInit_v2: Driver Not Loaded");
        write_attr(state, "config", "count=1\ncount_error=999");
        assert_nvml_failure(root, "NVML not available: nvmlDeviceGetCount_v2: Unknown Error");

        /* Per device: no counter and no power; no permission for the counter. */
        write_attr(state, "config", "count=2\ngpu0.energy=3\ngpu0.power=3\ngpu1.energy=4");
        {
                g_autoptr(EnergySource) s = probe(&energy_nvml_ops, root, 2);

                g_assert_false(s->zones[0]->available);
                g_assert_cmpstr(
                        s->zones[0]->reason, ==,
                        "no energy counter (Not Supported) and nvmlDeviceGetPowerUsage: Not Supported");
                g_assert_false(s->zones[1]->available);
                g_assert_cmpstr(s->zones[1]->reason, ==,
                                "nvmlDeviceGetTotalEnergyConsumption: Insufficient Permissions");
        }

        g_unsetenv("LLMLAB_NVML_LIBRARY");
        g_unsetenv("LLMLAB_FAKE_NVML_DIR");
        rm_rf(root);
}

/* ---- the monitor and the per-component view ----------------------------------------------------------- */

/* A machine with a CPU package and psys (RAPL), an NVIDIA GPU whose counter is refreshed every 50 ms
 * (NVML), an Intel GPU with an energy counter (hwmon, xe) and a discharging battery. Constant powers:
 * package 20 W, psys 30 W, NVIDIA 100 W, Intel 50 W, battery 200 W. */
typedef struct Machine {
        char *root;
        char *package, *psys, *xe, *bat, *nvml;
        sd_event *event;
        EnergyMonitor *m;
        uint64_t now;
} Machine;

#define P_PACKAGE_W      20
#define P_PSYS_W         30
#define P_NVIDIA_W       100
#define P_XE_W           50
#define P_BATTERY_W      200
#define NVML_REFRESH_NS  (50 * MS)
#define BATTERY_FULL_UWH 50000000ULL

static char *rapl_zone(const char *root, const char *entry, const char *name) {
        g_autofree char *class_dir = g_build_filename(root, "class/powercap", NULL);
        g_autofree char *link = g_build_filename(class_dir, entry, NULL);
        g_autofree char *target = g_build_filename("../../devices/virtual/powercap/intel-rapl", entry, NULL);
        char *dir = g_build_filename(root, "devices/virtual/powercap/intel-rapl", entry, NULL);

        mkdir_p(dir);
        mkdir_p(class_dir);
        g_assert_cmpint(symlink(target, link), ==, 0);
        write_attr(dir, "name", name);
        write_attr_u64(dir, "max_energy_range_uj", 262143328850ULL);
        write_attr_u64(dir, "energy_uj", 0);
        return dir;
}

static uint64_t machine_clock(void *userdata) {
        return ((Machine *) userdata)->now;
}

/* Sets every sensor to its value at @t (ns since 0) and samples. */
static void machine_at(Machine *mc, uint64_t t) {
        uint64_t nvml_t = t / NVML_REFRESH_NS * NVML_REFRESH_NS;
        g_autofree char *nvml_line = g_strdup_printf("%" G_GUINT64_FORMAT " %u",
                                                     P_NVIDIA_W * nvml_t / 1000000, P_NVIDIA_W * 1000);

        write_attr_u64(mc->package, "energy_uj", P_PACKAGE_W * t / 1000);
        write_attr_u64(mc->psys, "energy_uj", P_PSYS_W * t / 1000);
        write_attr_u64(mc->xe, "energy1_input", P_XE_W * t / 1000);
        /* µWh = W × ns / 3.6e6 */
        write_attr_u64(mc->bat, "energy_now", BATTERY_FULL_UWH - P_BATTERY_W * t / 3600000);
        write_attr(mc->nvml, "gpu0", nvml_line);
        mc->now = t;
        g_assert_cmpint(energy_monitor_sample_now(mc->m), ==, 0);
}

static Machine *machine_new(void) {
        Machine *mc = g_new0(Machine, 1);

        mc->root = tmp_root();
        mc->package = rapl_zone(mc->root, "intel-rapl:0", "package-0");
        mc->psys = rapl_zone(mc->root, "intel-rapl:1", "psys");
        mc->xe = hwmon_device(mc->root, "0000:03:00.0", "hwmon3", "xe");
        write_attr_u64(mc->xe, "energy1_input", 0);
        mc->bat = power_supply(mc->root, "BAT0", "Battery");
        write_attr(mc->bat, "status", "Discharging");
        write_attr_u64(mc->bat, "energy_now", BATTERY_FULL_UWH);
        mc->nvml = nvml_state(mc->root, "count=1\ngpu0.name=NVIDIA Fake\ngpu0.processes=4242:1048576");
        write_attr(mc->nvml, "gpu0", "0 100000");
        g_setenv("LLMLAB_NVML_LIBRARY", fake_nvml(), true);

        g_assert_cmpint(sd_event_new(&mc->event), >=, 0);
        g_assert_cmpint(energy_monitor_new(mc->event, mc->root, 10, &mc->m), ==, 0);
        g_assert_cmpint(energy_monitor_set_clock(mc->m, machine_clock, mc), ==, 0);
        return mc;
}

static void machine_free(Machine *mc) {
        energy_monitor_free(mc->m);
        sd_event_unref(mc->event);
        g_unsetenv("LLMLAB_NVML_LIBRARY");
        g_unsetenv("LLMLAB_FAKE_NVML_DIR");
        g_free(mc->package);
        g_free(mc->psys);
        g_free(mc->xe);
        g_free(mc->bat);
        g_free(mc->nvml);
        rm_rf(mc->root);
        g_free(mc);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Machine, machine_free)

static json_t *find_by_id(json_t *array, const char *id) {
        size_t i;
        json_t *v;

        json_array_foreach (array, i, v)
                if (g_str_equal(json_string_value(json_object_get(v, "id")), id))
                        return v;
        g_error("no %s", id);
}

static double wh(double watts, uint64_t ns) {
        return watts * (double) ns / 1e9 / 3600.0;
}

static void test_components(void) {
        g_autoptr(Machine) mc = machine_new();
        g_autoptr(json_t) sources = NULL, energy = json_object();
        EnergyRecording *rec = NULL;
        uint64_t t0 = 100 * MS, t1, a, b;
        json_t *c, *bounded, *procs;
        const EnergyPhase phases[] = {
                {"load", 0, 0},
                {"prefill", 0, 0},
                {"decode", 0, 0},
        };
        EnergyPhase ph[3];

        /* Every zone listed, with its kind, resolution and state. */
        g_assert_cmpuint(energy_monitor_n_zones(mc->m), ==, 5);
        sources = energy_monitor_sources_json(mc->m);
        c = find_by_id(sources, "nvml:gpu-0");
        g_assert_cmpstr(json_string_value(json_object_get(c, "kind")), ==, "counter");
        g_assert_cmpstr(json_string_value(json_object_get(c, "state")), ==, "available");
        g_assert_cmpint(json_integer_value(json_object_get(c, "resolution_uj")), ==, 1000);
        g_assert_cmpfloat(json_real_value(json_object_get(c, "refresh_ms")), ==, 100.0);
        g_assert_true(json_is_true(json_object_get(c, "summed")));
        c = find_by_id(sources, "battery:BAT0");
        g_assert_true(json_is_false(json_object_get(c, "summed")));
        g_assert_cmpstr(json_string_value(json_object_get(c, "domain")), ==, "battery");
        c = find_by_id(sources, "hwmon:gpu-0");
        g_assert_cmpstr(json_string_value(json_object_get(c, "driver")), ==, "xe");

        machine_at(mc, 0);
        machine_at(mc, t0);
        g_assert_cmpint(energy_monitor_start_recording(mc->m, &rec), ==, 0);
        for (uint64_t t = t0 + 10 * MS; t <= t0 + 2 * SEC; t += 10 * MS)
                machine_at(mc, t);
        g_assert_cmpint(energy_monitor_stop_recording(mc->m, rec), ==, 0);

        /* The run: [t0 + 25 ms, t0 + 1940 ms] (not aligned with the NVML refreshes), its prefill 20 ms and
         * its decode the rest. */
        a = t0 + 25 * MS;
        b = t0 + 1940 * MS;
        t1 = b;
        memcpy(ph, phases, sizeof(ph));
        ph[0] = (EnergyPhase){"load", a, a + 300 * MS};
        ph[1] = (EnergyPhase){"prefill", a + 300 * MS, a + 320 * MS};
        ph[2] = (EnergyPhase){"decode", a + 320 * MS, t1};
        g_assert_cmpint(energy_components_add_json(energy, mc->m, rec, a, b, ph, 3), ==, 0);

        c = find_by_id(json_object_get(energy, "components"), "rapl:package-0");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "wh")), wh(P_PACKAGE_W, b - a),
                                       1e-9);
        g_assert_true(json_is_true(json_object_get(c, "available")));
        g_assert_true(json_is_false(json_object_get(c, "bounded")) || !json_object_get(c, "bounded"));

        c = find_by_id(json_object_get(energy, "components"), "hwmon:gpu-0");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "wh")), wh(P_XE_W, b - a), 1e-9);
        g_assert_cmpstr(json_string_value(json_object_get(c, "kind")), ==, "counter");

        /* The NVML counter moves every 50 ms; its change points are interpolated: within 1 mJ. */
        c = find_by_id(json_object_get(energy, "components"), "nvml:gpu-0");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "wh")), wh(P_NVIDIA_W, b - a),
                                       1e-3 / 3600);
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "refresh_ms")), 50.0, 1e-9);
        g_assert_true(json_is_true(json_object_get(c, "bounded")));
        g_assert_true(json_is_false(json_object_get(c, "shared")));
        procs = json_object_get(c, "processes");
        g_assert_cmpuint(json_array_size(procs), ==, 1);
        g_assert_cmpint(json_integer_value(json_object_get(json_array_get(procs, 0), "pid")), ==, 4242);
        g_assert_cmpfloat(json_real_value(json_object_get(json_array_get(procs, 0), "used_memory_mib")), ==,
                          1.0);
        g_assert_true(json_is_false(json_object_get(energy, "gpu_shared")));

        /* Only the 20 ms prefill is shorter than the NVML refresh; no other zone is coarse. */
        bounded = json_object_get(energy, "bounded_estimates");
        g_assert_cmpuint(json_array_size(bounded), ==, 1);
        c = json_array_get(bounded, 0);
        g_assert_cmpstr(json_string_value(json_object_get(c, "zone")), ==, "nvml:gpu-0");
        g_assert_cmpstr(json_string_value(json_object_get(c, "phase")), ==, "prefill");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "duration_ms")), 20.0, 1e-9);
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "refresh_ms")), 50.0, 1e-9);

        /* The battery (1 µWh steps) is the whole system; the components explain 170 of its 200 W. */
        g_assert_cmpstr(json_string_value(json_object_get(energy, "system_zone")), ==, "battery:BAT0");
        g_assert_cmpstr(json_string_value(json_object_get(energy, "system_covers")), ==, "all");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(energy, "system_wh")),
                                       wh(P_BATTERY_W, b - a), 2e-6);
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(energy, "components_wh")),
                                       wh(P_PACKAGE_W + P_XE_W + P_NVIDIA_W, b - a), 1e-3 / 3600);
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(energy, "unexplained_wh")),
                                       wh(P_BATTERY_W - P_PACKAGE_W - P_XE_W - P_NVIDIA_W, b - a), 3e-6);

        /* psys is reported as a component, not summed. */
        c = find_by_id(json_object_get(energy, "components"), "rapl:psys");
        g_assert_true(json_is_false(json_object_get(c, "summed")));
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(c, "wh")), wh(P_PSYS_W, b - a), 1e-9);

        energy_recording_free(rec);
}

/* Without a battery, psys is the whole-system reference, and it does not cover discrete GPUs. Lost
 * zones are listed with their reason. */
static void test_components_psys_and_lost(void) {
        g_autoptr(Machine) mc = machine_new();
        g_autoptr(json_t) energy = json_object(), sources = NULL;
        EnergyRecording *rec = NULL;
        uint64_t t0 = 100 * MS;
        json_t *c;

        machine_at(mc, t0);
        g_assert_cmpint(energy_monitor_start_recording(mc->m, &rec), ==, 0);
        for (uint64_t t = t0 + 10 * MS; t <= t0 + SEC; t += 10 * MS) {
                if (t == t0 + 500 * MS)
                        write_attr(mc->bat, "status", "Charging");
                if (t < t0 + 500 * MS)
                        machine_at(mc, t);
                else {
                        /* The battery no longer changes; the rest goes on. */
                        mc->now = t;
                        write_attr_u64(mc->package, "energy_uj", P_PACKAGE_W * t / 1000);
                        write_attr_u64(mc->psys, "energy_uj", P_PSYS_W * t / 1000);
                        write_attr_u64(mc->xe, "energy1_input", P_XE_W * t / 1000);
                        g_assert_cmpint(energy_monitor_sample_now(mc->m), ==, 0);
                }
        }
        g_assert_cmpint(energy_monitor_stop_recording(mc->m, rec), ==, 0);
        g_assert_cmpint(energy_components_add_json(energy, mc->m, rec, t0, t0 + SEC, NULL, 0), ==, 0);

        c = find_by_id(json_object_get(energy, "components"), "battery:BAT0");
        g_assert_true(json_is_false(json_object_get(c, "available")));
        g_assert_cmpstr(json_string_value(json_object_get(c, "state")), ==, "lost");
        g_assert_cmpstr(json_string_value(json_object_get(c, "reason")), ==,
                        "no longer discharging (status: Charging)");
        g_assert_null(json_object_get(c, "wh"));

        g_assert_cmpstr(json_string_value(json_object_get(energy, "system_zone")), ==, "rapl:psys");
        g_assert_cmpstr(json_string_value(json_object_get(energy, "system_covers")), ==, "cpu");
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(energy, "unexplained_wh")),
                                       wh(P_PSYS_W - P_PACKAGE_W, SEC), 1e-9);

        sources = energy_monitor_sources_json(mc->m);
        c = find_by_id(sources, "battery:BAT0");
        g_assert_cmpstr(json_string_value(json_object_get(c, "state")), ==, "lost");
        energy_recording_free(rec);
}

/* A counter that the plausibility check would call a jump if it were judged by the poll interval: a
 * battery whose firmware refreshes energy_now every 5 s. */
static void test_coarse_counter_is_not_a_jump(void) {
        EnergyZone z = {.kind = ENERGY_ZONE_COUNTER};

        g_assert_cmpint(energy_zone_account(&z, 0, 0, false), ==, ENERGY_STEP_FIRST);
        for (uint64_t t = 10 * MS; t < 5 * SEC; t += 10 * MS)
                g_assert_cmpint(energy_zone_account(&z, 0, t, false), ==, ENERGY_STEP_OK);
        /* 5 s × 300 W = 1.5 kJ in one 10-ms poll. */
        g_assert_cmpint(energy_zone_account(&z, 1500000000ULL, 5 * SEC, false), ==, ENERGY_STEP_OK);
        g_assert_cmpuint(z.total_uj, ==, 1500000000ULL);
        g_assert_cmpuint(z.gaps, ==, 0);
        /* Right after a change, the same step is implausible. */
        g_assert_cmpint(energy_zone_account(&z, 3000000000ULL, 5 * SEC + 10 * MS, false), ==,
                        ENERGY_STEP_JUMP);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/energy-gpu/hwmon/discovery", test_hwmon_discovery);
        g_test_add_func("/energy-gpu/hwmon/none", test_hwmon_none);
        g_test_add_func("/energy-gpu/battery", test_battery);
        g_test_add_func("/energy-gpu/nvml/devices", test_nvml_devices);
        g_test_add_func("/energy-gpu/nvml/failures", test_nvml_failures);
        g_test_add_func("/energy-gpu/components", test_components);
        g_test_add_func("/energy-gpu/components/psys-and-lost", test_components_psys_and_lost);
        g_test_add_func("/energy-gpu/coarse-counter", test_coarse_counter_is_not_a_jump);

        return g_test_run();
}
