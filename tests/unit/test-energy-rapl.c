/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* RAPL discovery and reads against fake powercap trees laid out like the kernel's: zone
 * directories under devices/virtual/powercap/<control type>/, sub-zones nested inside their
 * package, and class/powercap/ holding relative symlinks to all of them. */

#include <fcntl.h>
#include <sys/stat.h>

#include "energy-source.h"
#include "sysfs.h"

#include <glib.h>
#include <glib/gstdio.h>

#define INTEL_RANGE 262143328850ULL
#define AMD_RANGE   65532610987ULL

typedef struct Tree {
        char *root;
} Tree;

/* In place, like a sysfs attribute that changes under an open fd (not g_file_set_contents(), which
 * replaces the file). */
static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(text);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, n), ==, (ssize_t) n);
        g_assert_cmpint(close(fd), ==, 0);
}

static void write_u64(const char *path, uint64_t v) {
        g_autofree char *s = g_strdup_printf("%" G_GUINT64_FORMAT "\n", v);

        write_text(path, s);
}

static Tree *tree_new(void) {
        g_autoptr(GError) error = NULL;
        Tree *t = g_new0(Tree, 1);

        t->root = g_dir_make_tmp("llmlab-rapl-XXXXXX", &error);
        g_assert_no_error(error);
        return t;
}

static void tree_free(Tree *t) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", t->root);

        g_assert_cmpint(system(cmd), ==, 0);
        g_free(t->root);
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Tree, tree_free)

/* Creates zone @entry (e.g. "intel-rapl:0:1") of control type @ctl, inside @parent (an entry name,
 * or NULL for a top-level zone), with a class/powercap link. Returns the zone directory. */
static char *tree_zone(Tree *t, const char *ctl, const char *parent, const char *entry, const char *name,
                       uint64_t range, uint64_t value) {
        g_autofree char *ctl_dir = g_build_filename(t->root, "devices/virtual/powercap", ctl, NULL);
        g_autofree char *class_dir = g_build_filename(t->root, "class/powercap", NULL);
        g_autofree char *rel = parent ? g_build_filename(parent, entry, NULL) : g_strdup(entry);
        g_autofree char *dir = g_build_filename(ctl_dir, rel, NULL);
        g_autofree char *ctl_link = g_build_filename(class_dir, ctl, NULL);
        g_autofree char *link = g_build_filename(class_dir, entry, NULL);
        g_autofree char *target = g_build_filename("../../devices/virtual/powercap", ctl, rel, NULL);
        g_autofree char *ctl_target = g_build_filename("../../devices/virtual/powercap", ctl, NULL);
        g_autofree char *p = NULL;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_cmpint(g_mkdir_with_parents(class_dir, 0755), ==, 0);
        if (!g_file_test(ctl_link, G_FILE_TEST_EXISTS)) {
                g_assert_cmpint(symlink(ctl_target, ctl_link), ==, 0);
                p = g_build_filename(ctl_dir, "enabled", NULL);
                write_text(p, "1\n");
                g_clear_pointer(&p, g_free);
        }
        g_assert_cmpint(symlink(target, link), ==, 0);

        p = g_build_filename(dir, "name", NULL);
        write_text(p, name);
        g_clear_pointer(&p, g_free);
        p = g_build_filename(dir, "max_energy_range_uj", NULL);
        write_u64(p, range);
        g_clear_pointer(&p, g_free);
        p = g_build_filename(dir, "energy_uj", NULL);
        write_u64(p, value);

        return g_steal_pointer(&dir);
}

static EnergySource *probe(Tree *t, int expect) {
        EnergySource *s = NULL;

        g_assert_cmpint(energy_source_new(&energy_rapl_ops, &s), ==, 0);
        g_assert_cmpint(energy_source_probe(s, t->root), ==, expect);
        g_assert_cmpuint(s->n_zones, ==, (size_t) expect);
        return s;
}

static void assert_zone(const EnergyZone *z, const char *id, const char *name, EnergyDomain domain,
                        int socket, bool summed, bool available) {
        g_assert_cmpstr(z->id, ==, id);
        g_assert_cmpstr(z->name, ==, name);
        g_assert_cmpstr(z->source, ==, "rapl");
        g_assert_cmpint(z->domain, ==, domain);
        g_assert_cmpint(z->socket, ==, socket);
        g_assert_cmpint(z->kind, ==, ENERGY_ZONE_COUNTER);
        g_assert_cmpint(z->summed, ==, summed);
        g_assert_cmpint(z->available, ==, available);
        if (available) {
                g_assert_null(z->reason);
                g_assert_cmpint(z->fd, >=, 0);
        }
}

static void test_two_sockets(void) {
        g_autoptr(Tree) t = tree_new();
        g_autofree char *p0 = NULL, *dram1 = NULL;
        _cleanup_(energy_source_freep) EnergySource *s = NULL;
        g_autofree EnergyReading *rd = NULL;

        /* Directory indices deliberately do not match the names: zones are what "name" says. */
        p0 = tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0", INTEL_RANGE, 1000);
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:0", "dram", INTEL_RANGE, 1001));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:1", "core", INTEL_RANGE, 1002));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:2", "uncore", INTEL_RANGE, 1003));
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:1", "psys", INTEL_RANGE, 1004));
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:2", "package-1", INTEL_RANGE, 2000));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:2", "intel-rapl:2:0", "core", INTEL_RANGE, 2001));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:2", "intel-rapl:2:1", "uncore", INTEL_RANGE, 2002));
        dram1 = tree_zone(t, "intel-rapl", "intel-rapl:2", "intel-rapl:2:2", "dram", INTEL_RANGE, 2003);

        /* Every nested zone is reachable twice (class link and subdirectory): still 9 zones. */
        s = probe(t, 9);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, true);
        assert_zone(s->zones[1], "rapl:core-0", "core", ENERGY_DOMAIN_CORE, 0, false, true);
        assert_zone(s->zones[2], "rapl:uncore-0", "uncore", ENERGY_DOMAIN_UNCORE, 0, false, true);
        assert_zone(s->zones[3], "rapl:dram-0", "dram", ENERGY_DOMAIN_DRAM, 0, true, true);
        assert_zone(s->zones[4], "rapl:package-1", "package-1", ENERGY_DOMAIN_PACKAGE, 1, true, true);
        assert_zone(s->zones[5], "rapl:core-1", "core", ENERGY_DOMAIN_CORE, 1, false, true);
        assert_zone(s->zones[6], "rapl:uncore-1", "uncore", ENERGY_DOMAIN_UNCORE, 1, false, true);
        assert_zone(s->zones[7], "rapl:dram-1", "dram", ENERGY_DOMAIN_DRAM, 1, true, true);
        assert_zone(s->zones[8], "rapl:psys", "psys", ENERGY_DOMAIN_PSYS, -1, false, true);

        /* Paths are the resolved zone directories; the modulus is the range + 1 µJ. */
        g_assert_true(
                g_str_has_suffix(s->zones[0]->path, "/devices/virtual/powercap/intel-rapl/intel-rapl:0"));
        g_assert_true(g_str_has_suffix(s->zones[7]->path, "intel-rapl:2/intel-rapl:2:2"));
        for (size_t i = 0; i < s->n_zones; i++) {
                g_assert_cmpuint(s->zones[i]->max_range_uj, ==, INTEL_RANGE + 1);
                g_assert_cmpuint(s->zones[i]->poll_period_ns, ==, 1000000000ULL);
        }

        /* Reads: every zone's raw counter, and again after the files changed (same fds). */
        rd = g_new0(EnergyReading, s->n_zones);
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[0].value, ==, 1000);
        g_assert_cmpuint(rd[3].value, ==, 1001);
        g_assert_cmpuint(rd[1].value, ==, 1002);
        g_assert_cmpuint(rd[8].value, ==, 1004);
        g_assert_cmpuint(rd[7].value, ==, 2003);
        for (size_t i = 0; i < s->n_zones; i++) {
                g_assert_cmpint(rd[i].error, ==, 0);
                g_assert_false(rd[i].rebase);
        }

        {
                g_autofree char *f = g_build_filename(dram1, "energy_uj", NULL);

                write_u64(f, 123456789);
        }
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[7].value, ==, 123456789);
        g_assert_cmpuint(rd[4].value, ==, 2000);
}

static void test_multi_die(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;

        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0-die-0", INTEL_RANGE, 1));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:0", "dram", INTEL_RANGE, 2));
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:1", "package-0-die-1", INTEL_RANGE, 3));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:1", "intel-rapl:1:0", "dram", INTEL_RANGE, 4));

        s = probe(t, 4);
        assert_zone(s->zones[0], "rapl:package-0-die-0", "package-0-die-0", ENERGY_DOMAIN_PACKAGE, 0, true,
                    true);
        assert_zone(s->zones[1], "rapl:package-0-die-1", "package-0-die-1", ENERGY_DOMAIN_PACKAGE, 0, true,
                    true);
        assert_zone(s->zones[2], "rapl:dram-0-die-0", "dram", ENERGY_DOMAIN_DRAM, 0, true, true);
        assert_zone(s->zones[3], "rapl:dram-0-die-1", "dram", ENERGY_DOMAIN_DRAM, 0, true, true);
}

static void test_amd(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;

        /* AMD registers the intel-rapl control type: package-N with a nested core, no dram. */
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0", AMD_RANGE, 10));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:0", "core", AMD_RANGE, 11));
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:1", "package-1", AMD_RANGE, 20));
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:1", "intel-rapl:1:0", "core", AMD_RANGE, 21));

        s = probe(t, 4);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, true);
        assert_zone(s->zones[1], "rapl:core-0", "core", ENERGY_DOMAIN_CORE, 0, false, true);
        assert_zone(s->zones[2], "rapl:package-1", "package-1", ENERGY_DOMAIN_PACKAGE, 1, true, true);
        assert_zone(s->zones[3], "rapl:core-1", "core", ENERGY_DOMAIN_CORE, 1, false, true);
        g_assert_cmpuint(s->zones[0]->max_range_uj, ==, AMD_RANGE + 1);
        /* 65.5 kJ / (4 × 500 W) = 32 s, clamped to 1 s. */
        g_assert_cmpuint(s->zones[0]->poll_period_ns, ==, 1000000000ULL);
}

static void test_mmio_merge(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;
        g_autofree char *msr = NULL, *mmio = NULL, *f = NULL;
        EnergyReading rd[2];

        msr = tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0", INTEL_RANGE, 5000);
        g_free(tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:0", "core", INTEL_RANGE, 100));
        mmio = tree_zone(t, "intel-rapl-mmio", NULL, "intel-rapl-mmio:0", "package-0", INTEL_RANGE, 7000);

        /* One package zone, reading the MSR counter. */
        s = probe(t, 2);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, true);
        assert_zone(s->zones[1], "rapl:core-0", "core", ENERGY_DOMAIN_CORE, 0, false, true);
        g_assert_true(g_str_has_suffix(s->zones[0]->path, "/intel-rapl/intel-rapl:0"));
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[0].value, ==, 5000);
        g_assert_false(rd[0].rebase);

        /* The MSR counter fails at run time (an empty read): the MMIO duplicate takes over. */
        f = g_build_filename(msr, "energy_uj", NULL);
        write_text(f, "");
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpint(rd[0].error, ==, 0);
        g_assert_cmpuint(rd[0].value, ==, 7000);
        g_assert_true(rd[0].rebase);
        g_assert_true(g_str_has_suffix(s->zones[0]->path, "/intel-rapl-mmio/intel-rapl-mmio:0"));
        g_assert_true(s->zones[0]->available);

        /* Then the next read is a plain one from MMIO. */
        g_assert_cmpint(energy_source_read(s, 0, rd), ==, 0);
        g_assert_cmpuint(rd[0].value, ==, 7000);
        g_assert_false(rd[0].rebase);
}

static void test_mmio_fallback_at_probe(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;
        g_autofree char *msr = NULL, *f = NULL;

        msr = tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0", INTEL_RANGE, 5000);
        g_free(tree_zone(t, "intel-rapl-mmio", NULL, "intel-rapl-mmio:0", "package-0", INTEL_RANGE, 7000));
        f = g_build_filename(msr, "energy_uj", NULL);
        g_assert_cmpint(unlink(f), ==, 0);
        g_assert_cmpint(mkdir(f, 0755), ==, 0);

        s = probe(t, 1);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, true);
        g_assert_true(g_str_has_suffix(s->zones[0]->path, "/intel-rapl-mmio/intel-rapl-mmio:0"));
}

static void test_mmio_only(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;

        g_free(tree_zone(t, "intel-rapl-mmio", NULL, "intel-rapl-mmio:0", "package-0", INTEL_RANGE, 7000));
        s = probe(t, 1);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, true);
}

static void test_unreadable(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;
        g_autofree char *p0 = NULL, *p1 = NULL, *dram0 = NULL, *dram1 = NULL, *f = NULL;

        p0 = tree_zone(t, "intel-rapl", NULL, "intel-rapl:0", "package-0", INTEL_RANGE, 1);
        dram0 = tree_zone(t, "intel-rapl", "intel-rapl:0", "intel-rapl:0:0", "dram", INTEL_RANGE, 2);
        p1 = tree_zone(t, "intel-rapl", NULL, "intel-rapl:1", "package-1", INTEL_RANGE, 3);
        dram1 = tree_zone(t, "intel-rapl", "intel-rapl:1", "intel-rapl:1:0", "dram", INTEL_RANGE, 4);
        g_free(tree_zone(t, "intel-rapl", NULL, "intel-rapl:2", "psys", INTEL_RANGE, 5));

        /* package-0: energy_uj is a directory. */
        f = g_build_filename(p0, "energy_uj", NULL);
        g_assert_cmpint(unlink(f), ==, 0);
        g_assert_cmpint(mkdir(f, 0755), ==, 0);
        g_clear_pointer(&f, g_free);
        /* dram-0: no energy_uj. */
        f = g_build_filename(dram0, "energy_uj", NULL);
        g_assert_cmpint(unlink(f), ==, 0);
        g_clear_pointer(&f, g_free);
        /* package-1: no max_energy_range_uj (a counter whose wrap is unknown cannot be used). */
        f = g_build_filename(p1, "max_energy_range_uj", NULL);
        g_assert_cmpint(unlink(f), ==, 0);
        g_clear_pointer(&f, g_free);
        /* dram-1: root-only counter, as since the PLATYPUS fix. Root reads it anyway. */
        f = g_build_filename(dram1, "energy_uj", NULL);
        g_assert_cmpint(chmod(f, 0), ==, 0);

        s = probe(t, 5);
        assert_zone(s->zones[0], "rapl:package-0", "package-0", ENERGY_DOMAIN_PACKAGE, 0, true, false);
        g_assert_cmpstr(s->zones[0]->reason, ==, "unreadable: Is a directory");
        assert_zone(s->zones[1], "rapl:dram-0", "dram", ENERGY_DOMAIN_DRAM, 0, true, false);
        g_assert_cmpstr(s->zones[1]->reason, ==, "missing");
        assert_zone(s->zones[2], "rapl:package-1", "package-1", ENERGY_DOMAIN_PACKAGE, 1, true, false);
        g_assert_cmpstr(s->zones[2]->reason, ==, "max_energy_range_uj: missing");
        if (geteuid() != 0) {
                assert_zone(s->zones[3], "rapl:dram-1", "dram", ENERGY_DOMAIN_DRAM, 1, true, false);
                g_assert_cmpstr(s->zones[3]->reason, ==, "permission denied");
        } else
                assert_zone(s->zones[3], "rapl:dram-1", "dram", ENERGY_DOMAIN_DRAM, 1, true, true);
        assert_zone(s->zones[4], "rapl:psys", "psys", ENERGY_DOMAIN_PSYS, -1, false, true);
        /* Unavailable zones keep their path, for the message. */
        g_assert_true(g_str_has_suffix(s->zones[0]->path, "/intel-rapl:0"));
}

static void test_empty(void) {
        g_autoptr(Tree) t = tree_new();
        _cleanup_(energy_source_freep) EnergySource *s = NULL;
        g_autofree char *dir = g_build_filename(t->root, "class/powercap", NULL);

        /* No class/powercap at all, then an empty one: no zones, no error. */
        s = probe(t, 0);
        s = energy_source_free(s);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        s = probe(t, 0);
}

static void test_reason(void) {
        struct {
                int error;
                const char *reason;
        } table[] = {
                {-EACCES, "permission denied"},
                {-EPERM, "permission denied"},
                {-ENOENT, "missing"},
                {-EISDIR, "unreadable: Is a directory"},
                {-EIO, "unreadable: Input/output error"},
                {-ENODATA, "unreadable: No data available"},
                {EACCES, "permission denied"},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autofree char *r = sysfs_error_reason(table[i].error);

                g_assert_cmpstr(r, ==, table[i].reason);
        }
}

static void test_zone_unavailable(void) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;

        g_assert_cmpint(energy_zone_new("rapl", "rapl:package-0", "package-0", &z), ==, 0);
        z->available = true;
        g_assert_cmpint(energy_zone_set_unavailable(z, -EACCES), ==, 0);
        g_assert_false(z->available);
        g_assert_cmpstr(z->reason, ==, "permission denied");
}

static void test_parse(void) {
        uint64_t v = 0;

        g_assert_cmpint(sysfs_parse_u64("262143328850\n", &v), ==, 0);
        g_assert_cmpuint(v, ==, 262143328850ULL);
        g_assert_cmpint(sysfs_parse_u64("0", &v), ==, 0);
        g_assert_cmpuint(v, ==, 0);
        g_assert_cmpint(sysfs_parse_u64("18446744073709551615", &v), ==, 0);
        g_assert_cmpuint(v, ==, UINT64_MAX);
        g_assert_cmpint(sysfs_parse_u64("18446744073709551616", &v), ==, -ERANGE);
        g_assert_cmpint(sysfs_parse_u64("", &v), ==, -EINVAL);
        g_assert_cmpint(sysfs_parse_u64("-1", &v), ==, -EINVAL);
        g_assert_cmpint(sysfs_parse_u64("12a", &v), ==, -EINVAL);
        g_assert_cmpint(sysfs_parse_u64(" 12", &v), ==, -EINVAL);
}

static void test_sysfs_root(void) {
        g_autofree char *p = NULL;

        g_setenv("LLMLAB_SYSFS_ROOT", "/tmp/fake", true);
        g_assert_cmpstr(sysfs_root(), ==, "/tmp/fake");
        g_assert_cmpint(sysfs_path(NULL, "class/powercap", &p), ==, 0);
        g_assert_cmpstr(p, ==, "/tmp/fake/class/powercap");
        g_clear_pointer(&p, free);
        g_setenv("LLMLAB_SYSFS_ROOT", "", true);
        g_assert_cmpstr(sysfs_root(), ==, "/sys");
        g_unsetenv("LLMLAB_SYSFS_ROOT");
        g_assert_cmpstr(sysfs_root(), ==, "/sys");
        g_assert_cmpint(sysfs_path("/root/", "/class", &p), ==, 0);
        g_assert_cmpstr(p, ==, "/root/class");
        g_clear_pointer(&p, free);
}

static void test_poll_period(void) {
        g_assert_cmpuint(energy_counter_poll_period_ns(INTEL_RANGE + 1), ==, 1000000000ULL);
        g_assert_cmpuint(energy_counter_poll_period_ns(AMD_RANGE + 1), ==, 1000000000ULL);
        /* 1 kJ: a quarter at 500 W is 0.5 s. */
        g_assert_cmpuint(energy_counter_poll_period_ns(1000000000ULL), ==, 500000000ULL);
        g_assert_cmpuint(energy_counter_poll_period_ns(1000000ULL), ==, 1000000ULL);
        g_assert_cmpuint(energy_counter_poll_period_ns(0), ==, 1000000000ULL);
}

static void test_strings(void) {
        for (EnergyDomain d = 0; d < _ENERGY_DOMAIN_MAX; d++)
                g_assert_cmpint(energy_domain_from_string(energy_domain_to_string(d)), ==, d);
        g_assert_cmpstr(energy_domain_to_string(ENERGY_DOMAIN_DRAM), ==, "dram");
        g_assert_cmpint(energy_domain_from_string("nope"), ==, _ENERGY_DOMAIN_INVALID);
        g_assert_null(energy_domain_to_string(_ENERGY_DOMAIN_MAX));
        g_assert_cmpstr(energy_zone_kind_to_string(ENERGY_ZONE_INTEGRATED_POWER), ==, "integrated-power");
        g_assert_cmpint(energy_zone_kind_from_string("counter"), ==, ENERGY_ZONE_COUNTER);
        g_assert_cmpint(energy_zone_kind_from_string(NULL), ==, _ENERGY_ZONE_KIND_INVALID);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/energy-rapl/two-sockets", test_two_sockets);
        g_test_add_func("/energy-rapl/multi-die", test_multi_die);
        g_test_add_func("/energy-rapl/amd", test_amd);
        g_test_add_func("/energy-rapl/mmio-merge", test_mmio_merge);
        g_test_add_func("/energy-rapl/mmio-fallback-at-probe", test_mmio_fallback_at_probe);
        g_test_add_func("/energy-rapl/mmio-only", test_mmio_only);
        g_test_add_func("/energy-rapl/unreadable", test_unreadable);
        g_test_add_func("/energy-rapl/empty", test_empty);
        g_test_add_func("/energy-rapl/reason", test_reason);
        g_test_add_func("/energy-rapl/zone-unavailable", test_zone_unavailable);
        g_test_add_func("/energy-rapl/parse", test_parse);
        g_test_add_func("/energy-rapl/sysfs-root", test_sysfs_root);
        g_test_add_func("/energy-rapl/poll-period", test_poll_period);
        g_test_add_func("/energy-rapl/strings", test_strings);

        return g_test_run();
}
