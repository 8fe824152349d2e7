/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-application.h"

int main(int argc, char *argv[]) {
        g_autoptr(LabApplication) app = lab_application_new();

        return g_application_run(G_APPLICATION(app), argc, argv);
}
