/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The stable JSON object printed by `llmlabctl run --json` and `run-energy --json`, built from the
 * daemon's Result a{sv} (already converted to JSON) and the run's transcript. Pure.
 *
 * Shape (keys are only ever added, never renamed): run, model, backend, state, answer, thinking,
 * tokens{input,output,thinking,injected}, timing{ttft_ms,tpot_ms,e2e_ms,load_ms,prefill_ms,
 * decode_ms,tokens_per_s}, energy{measured,sources,split_method,load_wh,prefill_wh,decode_wh,
 * total_wh,net_total_wh,idle_w,wh_per_1000_etokens,prefill_wh_per_1000_input_tokens,
 * decode_wh_per_1000_output_tokens,j_per_output_token,zones,wraps,sample_interval_ms},
 * carbon{region,g_per_kwh,co2_g}, provenance. Every listed key is present, in this order, with
 * null when the Result lacks it; keys of the Result that are not listed follow the listed ones
 * at the same level (e.g. done_reason, measure, error, tokens.cached). */

#include <jansson.h>

/* Returns a new object, or NULL on allocation failure. @result may be NULL (everything null);
 * @answer and @thinking may be NULL (then null in the output). */
json_t *run_result_json_build(json_t *result, const char *answer, const char *thinking);
