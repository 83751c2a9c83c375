#!/usr/bin/env python3
"""Writes or extends models/NAME.json, the human-readable card of a shipped
model: how it was trained (from the model metadata that `xtaldiff sample`
copies into its manifest) and what it scores (an `eval` JSON or a manifest's
own figures), with the commands that reproduce each number.

  tools/model_card.py --card models/carbon24-csp.json --manifest out/X/manifest.json \
      --eval out/X/eval.json --what "CSP, 1 sample, full Carbon-24 test set" \
      --command "xtaldiff sample ..." --command "xtaldiff eval csp ..."
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--card", required=True)
    ap.add_argument("--manifest", required=True, help="manifest.json of the sampling run")
    ap.add_argument("--eval", help="JSON printed by xtaldiff eval (csp or gen)")
    ap.add_argument("--what", required=True)
    ap.add_argument("--command", action="append", default=[])
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--machine", default="2-core Debian 12 VM, CPU only, 1 thread (the other core trained another model)",
                    help="where the model was trained")
    a = ap.parse_args()
    m = json.load(open(a.manifest))
    card = json.load(open(a.card)) if os.path.exists(a.card) else {}
    meta = m.get("model_metadata", {})
    card["model"] = m["model"]
    card["task"] = meta.get("task", m.get("task"))
    card["training"] = {k: meta[k] for k in (
        "commands", "data", "val_data", "train_crystals", "val_crystals", "batch", "lr", "seed", "threads",
        "device", "epochs", "steps", "hours", "final_train_loss", "final_val_loss", "started", "saved",
        "init") if k in meta}
    card["training"]["machine"] = a.machine
    metric = {"what": a.what, "sampler": m["sampler"], "steps": m.get("steps", m.get("steps_per_level")),
              "network_evaluations_per_crystal": m["network_evaluations_per_crystal"], "seed": m["seed"],
              "crystals": m["crystals"], "sampling_seconds": round(m["seconds"], 1), "threads": m["threads"],
              "commands": a.command}
    for key in ("constraints", "constraints_satisfied", "guidance", "spacegroups", "spacegroup_condition",
                "property_condition", "property_predictions", "lattice_clip", "coord_objective", "anneal",
                "refine_symmetry", "steps_per_level", "step_lr", "type_update", "final_denoise", "latents",
                "property_optimisation", "reconstruct"):
        if m.get(key) is not None:
            metric[key] = m[key]
    if "guidance" in metric and metric["guidance"]:
        metric["guidance"] = {k: v for k, v in metric["guidance"].items() if k != "property_model_metadata"}
    if a.eval:
        metric["eval"] = json.load(open(a.eval))
    if a.note:
        metric["notes"] = a.note
    metrics = [x for x in card.get("metrics", []) if x.get("what") != a.what]
    metrics.append(metric)
    card["metrics"] = metrics
    with open(a.card + ".tmp", "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    os.replace(a.card + ".tmp", a.card)


if __name__ == "__main__":
    main()
