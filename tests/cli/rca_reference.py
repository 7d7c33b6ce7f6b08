#!/usr/bin/python3
"""Independent reference for part_rca.sh: RCAEval's NSigma and BARO and its
service-level evaluation, computed with pandas and scikit-learn (the
libraries RCAEval runs on), to compare skewscope's output with.

    rca_reference.py rank METHOD CASE_DIR      -> {"ranking": [[name, score]]}
    rca_reference.py eval METHOD DATASET_DIR   -> {FAULT: {cases, ac1, ...}}

Written from the behaviour described in docs/RCA.md (rca-llm main.py's
process(), RCAEval's preprocess(), nsigma(), baro(), Evaluator), not copied.
Exits 3 when pandas or scikit-learn is missing, so the caller can skip.
"""
import glob
import json
import os
import sys

try:
    import numpy as np
    import pandas as pd
    from sklearn.preprocessing import RobustScaler, StandardScaler
except ImportError:
    sys.exit(3)


def prepared(case, length=20):
    data = pd.read_csv(os.path.join(case, "data.csv"))
    data = data.loc[:, ~data.columns.str.endswith("_latency-50")]
    data = data.replace([np.inf, -np.inf], np.nan).ffill().fillna(0)
    with open(os.path.join(case, "inject_time.txt")) as f:
        inject = int(f.readline().strip())
    side = length * 60 // 2
    data = pd.concat([data[data["time"] < inject].tail(side),
                      data[data["time"] >= inject].head(side)],
                     ignore_index=True)
    renames = {c: c.replace("_latency-90", "_latency")
               for c in data.columns if c.endswith("_latency-90")}
    return data.rename(columns=renames), inject


def per_window(frame):
    frame = frame.drop(columns=["time"])
    frame = frame.loc[:, (frame != frame.iloc[0]).any()]
    for c in frame.columns:
        if c.endswith("_mem"):
            frame[c] = frame[c] / 1e6
    return frame


def rank(method, case):
    data, inject = prepared(case)
    normal = per_window(data[data["time"] < inject])
    anomal = per_window(data[data["time"] >= inject])
    cols = [c for c in normal.columns if c in anomal.columns]
    scaler = RobustScaler if method == "baro" else StandardScaler
    out = []
    for c in cols:
        fit = scaler().fit(normal[c].to_numpy().reshape(-1, 1))
        z = fit.transform(anomal[c].to_numpy().reshape(-1, 1))[:, 0]
        out.append((c, float(max(z))))
    return sorted(out, key=lambda x: x[1], reverse=True)


def service(name):
    return name.split("_")[0].replace("-db", "")


def evaluate(method, dataset):
    faults = {}
    for path in sorted(glob.glob(os.path.join(dataset, "**", "data.csv"),
                                 recursive=True)):
        case = os.path.dirname(path)
        truth, fault = os.path.basename(os.path.dirname(case)).split("_", 1)
        seen = []
        for name, _ in rank(method, case):
            if service(name) not in seen:
                seen.append(service(name))
        acc = faults.setdefault(fault, [0, [0.0] * 6])
        acc[0] += 1
        for k in range(1, 6):
            acc[1][k] += int(truth in seen[:k])
    out = {}
    for fault, (n, hits) in faults.items():
        ac = [hits[k] / n for k in range(6)]
        out[fault] = {"cases": n, "ac1": ac[1], "ac3": ac[3], "ac5": ac[5],
                      "avg5": sum(ac[k] for k in range(1, 6)) / 5}
    return out


if __name__ == "__main__":
    what, method, where = sys.argv[1:4]
    if what == "rank":
        print(json.dumps({"ranking": rank(method, where)}))
    else:
        print(json.dumps(evaluate(method, where)))
