#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Derive llmlab's data files from the published figures collected by the original LLM Energy Lab.

    /usr/bin/python3 data/convert-upstream.py UPSTREAM_DIR [OUT_DIR]

UPSTREAM_DIR holds grid-emission-factors.json, benchmarks-hugging-face-ai-energy-score.json and
benchmarks-jegham-et-al-2025.json (the upstream's data/emissions.json and
data/benchmark_data/*.json). OUT_DIR defaults to the directory of this script; the script writes
OUT_DIR/grid-factors.json and OUT_DIR/benchmarks/{ai-energy-score,jegham-2025}.json. The output is
deterministic, so re-running it and diffing shows whether the committed files are what this
documentation says they are. Standard library only.

The conversions, and why, are described in docs/metrics.md ("Built-in benchmarks" and "Grid
emission factors"). In short:

* Grid factors: kg CO2e/kWh × 1000 = g CO2e/kWh, done in decimal arithmetic so that the printed
  value is exactly the published one with the decimal point moved. A factor of 0 stays 0.

* AI Energy Score (text generation): E_q = GPU Wh per query, measured with a fixed query shape of
  369,139 / 1000 = 369.139 input tokens on average and exactly 10 output tokens (min_new_tokens =
  max_new_tokens = 10), batch size 1. Transformers' generate() runs 10 forward passes per query:
  one prefill pass over the prompt (which also yields the first output token) and 9 one-token
  decode steps. At batch size 1 each pass costs about the same (all are dominated by reading the
  weights once), so we attribute PREFILL_SHARE = 1/10 of E_q to the prompt and 9/10 to the output:
      a = E_q × 0.1 / 369.139 × 1000    Wh per 1000 input tokens
      b = E_q × 0.9 / 10 × 1000         Wh per 1000 output tokens
  By construction a × 369.139/1000 + b × 10/1000 = E_q.

* Jegham et al. 2025: E = modelled Wh per query for 1000 input + 1000 output tokens. One global
  input share s is fitted to the paper's own Table 4 (three prompt shapes per model) by least
  squares on log(predicted / published) over all models and shapes, on a 0.01 grid; it gives
  s = 0.03:
      a = s × E,  b = (1 − s) × E       (both Wh per 1000 tokens, since the query has 1000 of each)
  By construction a + b = E.
"""

import json
import math
import os
import re
import sys
from decimal import Decimal

FORMAT = 1

AES_INPUT_TOKENS_PER_1000_QUERIES = 369139  # AI Energy Score methodology, Table 1 (text generation)
AES_OUTPUT_TOKENS_PER_QUERY = 10  # optimum-benchmark energy_star/text_generation.yaml
AES_PREFILL_SHARE = Decimal("0.1")  # 1 of the 10 forward passes per query
DEFAULT_ID = "aes:meta-llama-3.1-8b"

# Jegham et al. 2025 (arXiv 2505.09598 v6), Table 4: mean Wh per query for three prompt shapes
# (input tokens, output tokens). None = not reported. The middle column is the one in the upstream
# JSON; the script checks that they agree.
JEGHAM_SHAPES = [(100, 300), (1000, 1000), (10000, 1500)]
JEGHAM_TABLE4 = {
    "GPT-4.1": (0.871, 3.161, 4.833),
    "GPT-4.1 mini": (0.450, 1.545, 2.122),
    "GPT-4.1 nano": (0.207, 0.575, 0.827),
    "o4-mini (high)": (3.649, 7.380, 7.237),
    "o3": (1.177, 5.153, 12.222),
    "o3-mini (high)": (3.012, 6.865, 5.389),
    "o3-mini": (0.674, 2.423, 3.525),
    "o1": (2.268, 4.047, 6.181),
    "o1-mini": (0.535, 1.547, 2.317),
    "GPT-4o (Mar ’25)": (0.423, 1.215, 2.875),
    "GPT-4o mini": (0.577, 1.897, 3.098),
    "GPT-4 Turbo": (1.699, 5.940, 9.877),
    "GPT-4": (1.797, 6.925, None),
    "DeepSeek-R1 (DS)": (19.251, 24.596, 29.078),
    "DeepSeek-V3 (DS)": (2.777, 8.864, 13.162),
    "DeepSeek-R1 (AZ)": (2.353, 4.331, 7.410),
    "DeepSeek-V3 (AZ)": (0.742, 2.165, 3.696),
    "Claude-3.7 Sonnet": (0.950, 2.989, 5.671),
    "Claude-3.5 Sonnet": (0.973, 3.638, 7.772),
    "Claude-3.5 Haiku": (0.975, 4.464, 8.010),
    "LLaMA-3-8B": (0.108, 0.370, None),
    "LLaMA-3-70B": (0.861, 2.871, None),
    "LLaMA-3.1-8B": (0.052, 0.172, 0.443),
    "LLaMA-3.1-70B": (1.271, 4.525, 19.183),
    "LLaMA-3.1-405B": (2.226, 9.042, 25.202),
    "LLaMA-3.2 1B": (0.109, 0.342, 0.552),
    "LLaMA-3.2 3B": (0.143, 0.479, 0.707),
    "LLaMA-3.2-vision 11B": (0.078, 0.242, 1.087),
    "LLaMA-3.2-vision 90B": (1.235, 4.534, 6.852),
    "LLaMA-3.3 70B": (0.237, 0.760, 1.447),
}

SIGNIFICANT_DIGITS = 10

AES_CONVERSION = (
    "AI Energy Score publishes GPU energy per query (Wh) for its 1,000-query text-generation "
    "dataset, measured on NVIDIA H100 80GB at batch size 1. Each query has on average 369.139 "
    "input tokens (369,139 per 1,000 queries, methodology Table 1) and exactly 10 output tokens "
    "(optimum-benchmark energy_star text_generation: min_new_tokens = max_new_tokens = 10), so a "
    "query is one prefill pass over the prompt, which also yields the first output token, plus 9 "
    "one-token decode steps. Assumption: at batch size 1 the prefill pass costs about as much as "
    "one decode step (both are dominated by reading the weights once), so 1/10 of the per-query "
    "energy E_q is attributed to the prompt and 9/10 to the 10 output tokens: "
    "wh_per_1000_input_tokens = 0.1 x E_q / 369.139 x 1000 and wh_per_1000_output_tokens = "
    "0.9 x E_q / 10 x 1000. An estimate for 369.139 input and 10 output tokens gives back E_q "
    "exactly. The original app used E_q x 1000 / 369.139 as an input-only coefficient and ignored "
    "output tokens; see docs/metrics.md."
)

JEGHAM_CONVERSION = (
    "Jegham et al. (2025) give modelled (not metered) energy per query for a prompt of 1,000 "
    "input and 1,000 output tokens, E. Their model scales with time to first token plus output "
    "tokens / throughput, so input tokens are cheap; the share of E due to the 1,000 input tokens "
    "is fitted once, for all models, to the paper's own Table 4 (100/300, 1k/1k and 10k/1.5k "
    "shapes) by least squares on log(predicted/published): s = 0.03. Hence "
    "wh_per_1000_input_tokens = 0.03 x E and wh_per_1000_output_tokens = 0.97 x E; an estimate "
    "for 1,000 + 1,000 tokens gives back E exactly. The original app used E as an input-only "
    "coefficient; see docs/metrics.md."
)


def sig(x):
    """Rounds to SIGNIFICANT_DIGITS significant digits and returns a float."""
    if x == 0:
        return 0.0
    return float(f"{x:.{SIGNIFICANT_DIGITS - 1}e}")


def slug(s):
    s = s.lower()
    s = re.sub(r"[^a-z0-9._]+", "-", s)
    return s.strip("-.")


def kg_to_g(kg):
    """Exact decimal kg → g conversion of the value as printed in the source."""
    g = Decimal(repr(kg)) * 1000 if isinstance(kg, float) else Decimal(kg) * 1000
    return float(g)


def convert_grid(upstream):
    with open(os.path.join(upstream, "grid-emission-factors.json"), encoding="utf-8") as f:
        rows = json.load(f)
    assert len(rows) == 209, len(rows)

    regions = []
    seen = set()
    for row in rows:
        code = row["country_code"]
        assert code not in seen, code
        seen.add(code)
        assert code == "GLOBAL" or re.fullmatch(r"[A-Z]{2}", code), code
        g = kg_to_g(row["emission_factor"])
        region = {
            "code": code,
            "name": "Global average" if code == "GLOBAL" else row["country_name"],
            "g_per_kwh": g,
            "year": row["year"],
            "source": "iea-electricity-2025" if code == "GLOBAL" else "cadi",
        }
        if g == 0:
            region["note"] = (
                "Published as 0 by the source. llmlab reports 0 g for this region (0 means 0); "
                "the source may lack data for it rather than describe a zero-carbon grid."
            )
        regions.append(region)

    return {
        "format": FORMAT,
        "unit": "gCO2e/kWh",
        "description": (
            "Average (attributional) grid emission factors of electricity, one per country or "
            "territory (ISO 3166-1 alpha-2, XK = Kosovo) plus the world average GLOBAL, in grams "
            "of CO2-equivalent per kWh. Converted exactly from the kg/kWh figures collected by "
            "the LLM Energy Lab (data/emissions.json) by data/convert-upstream.py. A factor of 0 "
            "is reported as 0, never replaced by another value. year is null where the source "
            "gives none."
        ),
        "sources": {
            "iea-electricity-2025": {
                "title": "IEA, Electricity 2025: Analysis and forecast to 2027, emissions chapter "
                "(world average CO2 intensity of electricity generation)",
                "url": "https://www.iea.org/reports/electricity-2025",
            },
            "cadi": {
                "title": "CaDI (carbondi.com), Greenhouse Gas Emissions Factors for International "
                "Grid Electricity, computed from the generation fuel mix (Carbon Footprint Ltd "
                "2025 methodology), latest year available",
                "url": "https://www.carbondi.com/",
            },
        },
        "regions": regions,
    }


def aes_entry(model):
    verbatim = model["model_id"]
    hf_id = verbatim.replace(" ", "")
    e_q = Decimal(repr(model["total_gpu_energy_per_query_wh"]))
    assert Decimal(repr(model["wh_per_1000_queries"])) == e_q * 1000, verbatim
    tokens_in = Decimal(AES_INPUT_TOKENS_PER_1000_QUERIES) / 1000
    a = e_q * AES_PREFILL_SHARE / tokens_in * 1000
    b = e_q * (1 - AES_PREFILL_SHARE) / AES_OUTPUT_TOKENS_PER_QUERY * 1000
    return {
        "id": "aes:" + slug(hf_id.split("/", 1)[1]),
        "name": hf_id,
        "description": (
            f"AI Energy Score, text generation, class {model['class']}: {model['total_gpu_energy_per_query_wh']} Wh "
            f"GPU energy per query (369.139 input + 10 output tokens, H100, batch 1), split 1/10 "
            f"prefill, 9/10 decode."
        ),
        "wh_per_1000_input_tokens": sig(a),
        "wh_per_1000_output_tokens": sig(b),
        "published": {
            "model_id": verbatim,
            "class": model["class"],
            "total_gpu_energy_per_query_wh": model["total_gpu_energy_per_query_wh"],
        },
    }


def convert_aes(upstream):
    with open(os.path.join(upstream, "benchmarks-hugging-face-ai-energy-score.json"), encoding="utf-8") as f:
        src = json.load(f)
    assert src["input_tokens_per_1000_queries"] == AES_INPUT_TOKENS_PER_1000_QUERIES
    entries = [aes_entry(m) for m in src["models"]]
    assert len(entries) == 62
    return {
        "format": FORMAT,
        "source": {
            "id": "aes",
            "name": "AI Energy Score (Hugging Face), text generation",
            "url": "https://huggingface.co/spaces/AIEnergyScore/Leaderboard",
            "hardware": "NVIDIA H100 80GB (class C models: several), GPU energy only, batch size 1, "
            "FP16/BF16 with Transformers; measured with CodeCarbon, mean of 10 passes over 1,000 queries",
            "conversion": AES_CONVERSION,
            "parameters": {
                "input_tokens_per_query": AES_INPUT_TOKENS_PER_1000_QUERIES / 1000,
                "output_tokens_per_query": AES_OUTPUT_TOKENS_PER_QUERY,
                "prefill_share": float(AES_PREFILL_SHARE),
            },
        },
        "benchmarks": entries,
    }


def jegham_error(s):
    """Mean squared log error of the shares-model over all models and the two other shapes."""
    total, n = 0.0, 0
    for values in JEGHAM_TABLE4.values():
        e = values[1]
        for (tin, tout), published in zip(JEGHAM_SHAPES, values):
            if published is None:
                continue
            predicted = tin / 1000 * s * e + tout / 1000 * (1 - s) * e
            total += math.log(predicted / published) ** 2
            n += 1
    return total / n


def jegham_share():
    grid = [i / 100 for i in range(0, 101)]
    return min(grid, key=jegham_error)


def convert_jegham(upstream):
    with open(os.path.join(upstream, "benchmarks-jegham-et-al-2025.json"), encoding="utf-8") as f:
        src = json.load(f)
    s = jegham_share()
    assert s == 0.03, s
    share = Decimal("0.03")
    entries = []
    for m in src["models"]:
        name = m["model_id"]
        e_in, e_out = m["wh_per_1000_input_etokens"], m["wh_per_1000_output_etokens"]
        assert e_in == e_out == JEGHAM_TABLE4[name][1], name
        e = Decimal(repr(e_in))
        shapes = JEGHAM_TABLE4[name]
        published = {"model": name}
        for (tin, tout), v in zip(JEGHAM_SHAPES, shapes):
            if v is not None:
                published[f"wh_per_query_{tin}_in_{tout}_out"] = v
        entries.append({
            "id": "jegham:" + slug(name),
            "name": name,
            "description": (
                f"Jegham et al. 2025, Table 4: {e_in} Wh per query of 1,000 input + 1,000 output "
                f"tokens (modelled, cloud API incl. PUE), split 3 % input, 97 % output."
            ),
            "wh_per_1000_input_tokens": sig(share * e),
            "wh_per_1000_output_tokens": sig((1 - share) * e),
            "published": published,
        })
    assert len(entries) == 30
    return {
        "format": FORMAT,
        "source": {
            "id": "jegham",
            "name": "Jegham et al. 2025, How Hungry is AI? (arXiv 2505.09598 v6), Table 4",
            "url": "https://arxiv.org/abs/2505.09598",
            "hardware": "Cloud API deployments; energy modelled (not metered) from observed latency and "
            "throughput with assumed GPU and non-GPU power, utilisation and data-centre PUE",
            "conversion": JEGHAM_CONVERSION,
            "parameters": {
                "input_tokens_per_query": 1000,
                "output_tokens_per_query": 1000,
                "input_share": float(share),
                "input_share_fit_error": round(jegham_error(s), 6),
            },
        },
        "benchmarks": entries,
    }


def check_ids(*files):
    ids = [e["id"] for f in files for e in f["benchmarks"]]
    assert len(ids) == len(set(ids)), "duplicate benchmark ids"
    for i in ids:
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", i) and not i.startswith("."), i
    assert DEFAULT_ID in ids


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    upstream = argv[1]
    out = argv[2] if len(argv) == 3 else os.path.dirname(os.path.abspath(__file__))

    aes = convert_aes(upstream)
    jegham = convert_jegham(upstream)
    check_ids(aes, jegham)

    write(os.path.join(out, "grid-factors.json"), convert_grid(upstream))
    write(os.path.join(out, "benchmarks", "ai-energy-score.json"), aes)
    write(os.path.join(out, "benchmarks", "jegham-2025.json"), jegham)


if __name__ == "__main__":
    main(sys.argv)
