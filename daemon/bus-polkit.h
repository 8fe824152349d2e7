/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asynchronous polkit authorization over sd-bus, never blocking the event loop.
 *
 * A method handler calls bus_verify_polkit_async(); on the first call it sends
 * CheckAuthorization and returns 0: the handler returns without replying. When polkit answers,
 * the original message is put back into the bus's read queue (sd_bus_enqueue_for_read), so the
 * handler runs again; this time bus_verify_polkit_async() returns 1 (authorized) or an error.
 * polkit absent or failing means denied (fail closed). Callers with uid 0 are always allowed.
 * In user mode (session bus) polkit is not consulted. */

#include <systemd/sd-bus.h>

#include "macro.h"

typedef struct PolkitRegistry PolkitRegistry;

int polkit_registry_new(bool enabled, PolkitRegistry **ret);
PolkitRegistry *polkit_registry_free(PolkitRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(PolkitRegistry *, polkit_registry_free);

/* Returns 1 if authorized, 0 if the answer is pending (return 1 from the handler without a
 * reply), or a negative errno with @error set to PermissionDenied. */
int bus_verify_polkit_async(sd_bus_message *call, const char *action, PolkitRegistry *registry,
                            sd_bus_error *error);

/* Synchronous-free check for a message that is being handled: is the sender allowed @action
 * without asking? Only meaningful after a previous async check; used for "owner or manage"
 * decisions, see bus-auth.c. */
bool polkit_registry_enabled(const PolkitRegistry *r);
